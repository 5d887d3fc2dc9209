"""Stored verdicts follow every ORM write, in the same transaction.

The paths that write in bulk or with Core statements (the roster import, a waiver's
revocation) refresh the vendors they touched themselves. Every other write goes through the
ORM, and these session hooks catch it: after a flush, the vendors whose row, certificates,
policies or waivers changed (and the vendors of a profile whose requirements changed) are
noted; just before the commit, their stored verdicts are refreshed
(`comms.stored_verdicts.settle_pending`) as of the `now` the transaction last refreshed with,
else the clock. A vendor already refreshed since its last change is not refreshed again.

`install()` is called by the composition root (`comms.app.registry`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect
from sqlmodel import Session

from comms.models import Certificate, Policy, RequirementProfile, Vendor, Waiver
from comms.stored_verdicts import LAST_NOW, PENDING, PENDING_PROFILES, settle_pending
from comms.timeutil import utcnow

_PROFILE_FIELDS = ("spec", "expiring_within_days")
_installed = False


def _noted(session: Session, _context: Any) -> None:
    vendors: set[int] = session.info.setdefault(PENDING, set())
    profiles: set[int] = session.info.setdefault(PENDING_PROFILES, set())
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Vendor) and obj.id is not None:
            vendors.add(obj.id)
        elif isinstance(obj, Certificate | Policy | Waiver) and obj.vendor_id is not None:
            vendors.add(obj.vendor_id)
        elif isinstance(obj, RequirementProfile) and obj.id is not None:
            state = inspect(obj)
            if any(state.attrs[f].history.has_changes() for f in _PROFILE_FIELDS):
                profiles.add(obj.id)


def _before_commit(session: Session) -> None:
    if (
        session.info.get(PENDING)
        or session.info.get(PENDING_PROFILES)
        or session.dirty
        or session.new
    ):
        settle_pending(session, now=session.info.get(LAST_NOW) or utcnow())


def _forget(session: Session, *_args: Any) -> None:
    for key in (PENDING, PENDING_PROFILES, LAST_NOW):
        session.info.pop(key, None)


def install() -> None:
    """Listen on every `Session` (once)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_flush", _noted)
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_rollback", _forget)
    event.listen(Session, "after_commit", _forget)
    _installed = True
