"""`comms.loop_yield.after_others`: background slices run after what is ready, not before."""

from __future__ import annotations

import asyncio

import pytest

import comms.loop_yield as loop_yield
from comms.loop_yield import MAX_SPINS, after_others


async def _busy(order: list[str], steps: int) -> None:
    """A task that stays ready `steps` times in a row, as senders answering replies do."""
    for i in range(steps):
        order.append(f"reply {i}")
        await asyncio.sleep(0)


async def test_background_slice_waits_for_everything_ready() -> None:
    order: list[str] = []

    async def background() -> None:
        await after_others()
        order.append("render")

    await asyncio.gather(background(), _busy(order, 5))
    assert order == [f"reply {i}" for i in range(5)] + ["render"]


async def test_plain_sleep_would_cut_in() -> None:
    """The asyncio behaviour `after_others` exists for: after a plain yield the next slice
    runs between the replies. Should asyncio ever run I/O first, this fails, and the helper
    can go."""
    order: list[str] = []

    async def background() -> None:
        await asyncio.sleep(0)
        order.append("render")

    await asyncio.gather(background(), _busy(order, 5))
    assert order.index("render") < 4


async def test_a_loop_that_never_idles_cannot_starve_the_caller() -> None:
    order: list[str] = []

    async def background() -> None:
        await after_others()
        order.append("render")

    await asyncio.gather(background(), _busy(order, MAX_SPINS * 3))
    assert "render" in order and order[-1] != "render"


def test_loop_without_a_ready_queue_gets_a_plain_yield(monkeypatch: pytest.MonkeyPatch) -> None:
    class Loop:  # e.g. uvloop: no `_ready`
        pass

    monkeypatch.setattr(loop_yield.asyncio, "get_running_loop", lambda: Loop())
    step = after_others()  # driven by hand: it needs no running loop to yield
    assert step.send(None) is None  # one yield, as `asyncio.sleep(0)` gives...
    with pytest.raises(StopIteration):  # ...and then it returns: no waiting on a queue
        step.send(None)
