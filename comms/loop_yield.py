"""Background work on an event loop that must not delay the loop's network round trips.

asyncio runs ready callbacks in FIFO order and has no priorities. A task that does a slice of
CPU work and then yields with `asyncio.sleep(0)` is scheduled again *ahead of* the I/O
callbacks the loop collects next, and the tasks those callbacks wake run after its next
slice: every reply a server sends waits for up to two slices before it is answered. With a
few connections kept busy by one producer (`comms.delivery_batch`), that leaves the server
idle between commands.

`after_others()` yields and comes back only once nothing else is ready to run, so the
slice after it starts when the replies that had arrived have been answered. It reads the
loop's ready queue, which CPython's asyncio keeps as `_ready`; a loop without it (uvloop)
gets a plain `sleep(0)`.
"""

from __future__ import annotations

import asyncio

MAX_SPINS = 64  # yield at most this often in a row, so a busy loop cannot starve the caller


async def after_others() -> None:
    """Yield to the event loop; return once no other callback is waiting to run (or after
    `MAX_SPINS` yields)."""
    await asyncio.sleep(0)
    pending = getattr(asyncio.get_running_loop(), "_ready", None)
    if pending is None:
        return
    for _ in range(MAX_SPINS):
        if not pending:
            return
        await asyncio.sleep(0)
