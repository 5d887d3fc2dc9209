"""The scheduler's PostgreSQL pipeline: the next batch is claimed and planned (Python) while a
writer thread writes and commits the one before (mostly waiting on PostgreSQL).

At most three transactions are open at once (being written, handed over, being planned);
SKIP LOCKED keeps their cases apart as it does for several schedulers. Each batch is still
claimed, planned, written and committed in one transaction of its own, as without the
pipeline.

Two interpreter settings matter while it runs, both restored afterwards:

- no cycle collection (`gc_paused`): a batch makes thousands of short-lived objects, which
  would trigger collections that walk the whole heap (tens of milliseconds each); reference
  counting frees them;
- a short GIL switch interval (`quick_handoffs`): every reply PostgreSQL sends the writer
  wakes it, and it must then take the GIL from the planning thread, which by default keeps
  it up to 5 ms. A batch's write is half a dozen round trips, so the writer would spend a
  good part of its time waiting for the interpreter rather than for the database.
"""

from __future__ import annotations

import gc
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from comms.settings import Settings
from workflows.batch import BatchOutcome, PlannedBatch, plan_batch, prepare_batch, write_batch

HANDOFF_INTERVAL = 0.0005  # seconds: the GIL switch interval while the pipeline runs
_RETRY = object()  # a batch the database rolled back (deadlock): due still


def is_deadlock(exc: BaseException) -> bool:
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(exc, DBAPIError) and code in ("40P01", "40001")


def plan_while_writing(
    engine: Engine,
    *,
    now: datetime,
    settings: Settings,
    batch: int,
    bulk: bool,
    collect: Callable[[BatchOutcome], None],
) -> bool:
    """Claim, plan and write batches until one comes back short; `collect` gets each batch once
    it has committed. True when a batch was rolled back as a deadlock victim: its cases are
    due still (the caller claims them again)."""
    handoff: queue.Queue[tuple[Session, PlannedBatch] | None] = queue.Queue(maxsize=1)
    done: queue.Queue[BatchOutcome | BaseException | object | None] = queue.Queue()

    def write() -> None:
        while (item := handoff.get()) is not None:
            session, planned = item
            try:
                with gc_paused():
                    out = write_batch(session, planned, now=now, settings=settings)
                    session.commit()
                done.put(out)
            except BaseException as exc:  # handed to the planning thread
                session.rollback()
                done.put(_RETRY if is_deadlock(exc) else exc)
            finally:
                session.close()
        done.put(None)

    failure: BaseException | None = None
    retry = False

    def take(block: bool) -> bool:
        """Take the writer's reports; False once it has stopped."""
        nonlocal failure, retry
        while True:
            try:
                item = done.get(block=block)
            except queue.Empty:
                return True
            if item is None:
                return False
            if item is _RETRY:
                retry = True
            elif isinstance(item, BaseException):
                failure = failure or item
            elif isinstance(item, BatchOutcome):
                collect(item)
            block = False

    with quick_handoffs():
        writer = threading.Thread(target=write, name="tick-writer", daemon=True)
        writer.start()
        try:
            while failure is None:
                session = Session(engine, expire_on_commit=False)
                try:
                    with gc_paused():
                        planned = plan_batch(
                            session, now=now, settings=settings, limit=batch, bulk=bulk
                        )
                        prepare_batch(session, planned, now=now)  # encoded here, not by the writer
                except BaseException:
                    session.rollback()
                    session.close()
                    raise
                handoff.put((session, planned))
                take(block=False)
                if len(planned.cases) < batch:
                    break
        finally:
            handoff.put(None)
            while take(block=True):
                pass
            writer.join()
    if failure is not None:
        raise failure
    return retry


class _Held:
    """A process-wide setting changed while anyone holds it, restored when the last lets go."""

    def __init__(self, change: Callable[[], object], restore: Callable[[object], None]) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._saved: object = None
        self._change, self._restore = change, restore

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._saved = self._change()
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0:
                    self._restore(self._saved)


def _pause_gc() -> object:
    enabled = gc.isenabled()
    gc.disable()
    return enabled


def _resume_gc(enabled: object) -> None:
    if enabled:
        gc.enable()


def _shorten_switch() -> object:
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, HANDOFF_INTERVAL))
    return before


def _restore_switch(before: object) -> None:
    assert isinstance(before, float)
    sys.setswitchinterval(before)


_GC = _Held(_pause_gc, _resume_gc)
_SWITCH = _Held(_shorten_switch, _restore_switch)


def gc_paused() -> AbstractContextManager[None]:
    """No cycle collection inside (see the module docstring)."""
    return _GC.held()


def quick_handoffs() -> AbstractContextManager[None]:
    """A short GIL switch interval inside (see the module docstring)."""
    return _SWITCH.held()
