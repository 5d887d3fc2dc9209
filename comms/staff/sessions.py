"""Server-side sign-in sessions: opened at sign-in, looked up by the cookie's token, revoked at
sign-out, on a password change or when the account is disabled."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

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


def find_session(session: Session, token: str, *, now: datetime) -> SignedIn | None:
    """The live session the token opens: not revoked, not expired, its account enabled."""
    found = session.exec(
        select(StaffSession, Staff)
        .join(Staff, Staff.id == StaffSession.staff_id)  # type: ignore[arg-type]
        .where(StaffSession.token_sha256 == token_digest(token))
    ).first()
    if found is None:
        return None
    row, staff = found
    if row.revoked_at is not None or row.expires_at <= now or staff.disabled:
        return None
    assert staff.id is not None and row.id is not None
    return SignedIn(
        staff_id=staff.id,
        name=staff.name,
        role=staff.role,
        session_id=row.id,
        csrf_token=row.csrf_token,
        last_seen_at=row.last_seen_at,
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
