"""Server-side sign-in sessions: opened at sign-in, looked up by the cookie's token, revoked at
sign-out, on a password change or when the account is disabled."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlmodel import Session, col

from comms.staff.models import Staff, StaffSession


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """Who a request comes from: the account and its session (detached copies)."""

    staff_id: int
    name: str
    role: str
    session_id: int
    csrf_token: str
    last_seen_at: datetime | None = None


def open_session(
    session: Session, staff: Staff, *, now: datetime, lifetime: timedelta, address: str | None
) -> tuple[str, StaffSession]:
    """A new session; returns the raw token (only for the cookie) and the row."""
    token = secrets.token_urlsafe(32)
    row = StaffSession(
        staff_id=staff.id or 0,
        token_sha256=token_digest(token),
        csrf_token=secrets.token_urlsafe(32),
        address=address,
        created_at=now,
        expires_at=now + lifetime,
        last_seen_at=now,
    )
    session.add(row)
    session.flush()
    return token, row


# built once: every signed-in request runs it
_LOOKUP = (
    select(
        col(StaffSession.id),
        col(StaffSession.csrf_token),
        col(StaffSession.expires_at),
        col(StaffSession.revoked_at),
        col(StaffSession.last_seen_at),
        col(Staff.id),
        col(Staff.name),
        col(Staff.role),
        col(Staff.disabled),
    )
    .join(Staff, col(Staff.id) == col(StaffSession.staff_id))
    .where(col(StaffSession.token_sha256) == bindparam("digest"))
)


def find_session(session: Session, token: str, *, now: datetime) -> SignedIn | None:
    """The live session the token opens: not revoked, not expired, its account enabled. One
    indexed lookup of the columns it needs (every signed-in request makes it)."""
    found = session.execute(_LOOKUP, {"digest": token_digest(token)}).first()
    if found is None:
        return None
    session_id, csrf, expires_at, revoked_at, last_seen_at, staff_id, name, role, disabled = found
    if revoked_at is not None or expires_at <= now or disabled:
        return None
    return SignedIn(
        staff_id=staff_id,
        name=name,
        role=role,
        session_id=session_id,
        csrf_token=csrf,
        last_seen_at=last_seen_at,
    )


SEEN_EVERY = timedelta(minutes=1)


def note_seen(session: Session, who: SignedIn, *, now: datetime) -> None:
    """Record that the session was used (at most once a minute: a page view stays a read)."""
    if who.last_seen_at is not None and now - who.last_seen_at < SEEN_EVERY:
        return
    row = session.get(StaffSession, who.session_id)
    if row is not None:
        row.last_seen_at = now
        session.add(row)
        session.commit()


def revoke(session: Session, session_id: int, *, now: datetime) -> None:
    row = session.get(StaffSession, session_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
