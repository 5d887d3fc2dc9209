"""Per-staff API tokens for the staff JSON API: made and revoked in the workspace (`/account`).
The token is shown once; only its sha256 is kept. A token works while it is not revoked and
its account is enabled; each use records `last_used_at` (at most once a minute)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from comms.errors import PermanentError
from comms.models import audit
from comms.staff.models import Staff, StaffApiToken
from comms.staff.sessions import token_digest

PREFIX = "coi_"
MAX_LABEL = 80
TOUCH_EVERY = timedelta(minutes=1)


class TokenRefused(PermanentError):
    code = "api_token_refused"


def create_token(
    session: Session, staff_id: int, *, label: str, by: str, now: datetime
) -> tuple[str, StaffApiToken]:
    """A new token for `staff_id` (committed); returns the raw token, to be shown once."""
    label = label.strip()[:MAX_LABEL]
    if not label:
        raise TokenRefused("name the token (what it is for)")
    raw = PREFIX + secrets.token_urlsafe(32)
    row = StaffApiToken(
        staff_id=staff_id, label=label, token_sha256=token_digest(raw), created_at=now
    )
    session.add(row)
    session.flush()
    audit(
        session,
        action="staff.token_create",
        entity="staff",
        entity_id=staff_id,
        actor=by,
        at=now,
        data={"before": None, "after": {"token": row.id, "label": label}},
    )
    session.commit()
    return raw, row


def revoke_token(
    session: Session, token_id: int, *, staff_id: int | None, by: str, now: datetime
) -> None:
    """Revoke a token (one's own; `staff_id` None: any, for an admin); committed."""
    row = session.get(StaffApiToken, token_id)
    if row is None or (staff_id is not None and row.staff_id != staff_id):
        raise TokenRefused(f"there is no token {token_id} of yours")
    done = session.execute(
        update(StaffApiToken)
        .where(col(StaffApiToken.id) == token_id, col(StaffApiToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    if getattr(done, "rowcount", 1) != 1:
        session.rollback()
        raise TokenRefused(f"token {token_id} was already revoked")
    audit(
        session,
        action="staff.token_revoke",
        entity="staff",
        entity_id=row.staff_id,
        actor=by,
        at=now,
        data={"before": {"token": token_id, "label": row.label}, "after": {"revoked": True}},
    )
    session.commit()


def staff_for_token(session: Session, raw: str, *, now: datetime) -> Staff | None:
    """The enabled account a live token belongs to (and the use noted), or None."""
    if not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    found = session.exec(
        select(StaffApiToken, Staff)
        .join(Staff, col(Staff.id) == col(StaffApiToken.staff_id))
        .where(col(StaffApiToken.token_sha256) == token_digest(raw))
    ).first()
    if found is None:
        return None
    token, staff = found
    if token.revoked_at is not None or staff.disabled:
        return None
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        session.execute(
            update(StaffApiToken).where(col(StaffApiToken.id) == token.id).values(last_used_at=now)
        )
        session.commit()
    return staff


def tokens_of(session: Session, staff_id: int) -> list[StaffApiToken]:
    return list(
        session.exec(
            select(StaffApiToken)
            .where(col(StaffApiToken.staff_id) == staff_id)
            .order_by(col(StaffApiToken.id).desc())
        ).all()
    )
