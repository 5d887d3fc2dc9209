"""Creating, listing, disabling staff and changing passwords; each change is audited."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from comms.errors import PermanentError
from comms.models.audit import audit
from comms.staff.models import Role, Staff, StaffSession
from comms.staff.passwords import hash_password

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class StaffError(PermanentError, ValueError):
    """A staff command cannot be done (unknown name, a name taken, a bad role)."""

    code = "staff_refused"


def public(staff: Staff) -> dict[str, Any]:
    """What the audit log and listings show of an account (never the hash)."""
    return {"name": staff.name, "role": staff.role, "disabled": staff.disabled}


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise StaffError(f"unknown role {value!r}: one of {allowed}") from None


def find_staff(session: Session, name: str) -> Staff | None:
    return session.exec(select(Staff).where(Staff.name == name)).first()


def _get(session: Session, name: str) -> Staff:
    staff = find_staff(session, name)
    if staff is None:
        raise StaffError(f"no staff member named {name!r}")
    return staff


def add_staff(
    session: Session, name: str, role: str, password: str, *, actor: str, now: datetime
) -> Staff:
    if not NAME.match(name):
        raise StaffError(f"{name!r}: a staff name is 1-64 letters, digits, '.', '_', '@' or '-'")
    if find_staff(session, name) is not None:
        raise StaffError(f"a staff member named {name!r} exists")
    staff = Staff(
        name=name,
        role=parse_role(role).value,
        password_hash=hash_password(password),
        created_at=now,
        updated_at=now,
        password_changed_at=now,
    )
    session.add(staff)
    session.flush()
    audit(
        session,
        action="staff.add",
        entity="staff",
        entity_id=staff.id,
        actor=actor,
        at=now,
        data={"before": None, "after": public(staff)},
    )
    return staff


def list_staff(session: Session) -> list[Staff]:
    return list(session.exec(select(Staff).order_by(col(Staff.name))).all())


def revoke_sessions(session: Session, staff: Staff, now: datetime) -> int:
    rows = session.exec(
        select(StaffSession).where(
            StaffSession.staff_id == staff.id, col(StaffSession.revoked_at).is_(None)
        )
    ).all()
    for row in rows:
        row.revoked_at = now
        session.add(row)
    return len(rows)


def disable_staff(session: Session, name: str, *, actor: str, now: datetime) -> Staff:
    """Disable an account and end its sessions (idempotent: a disabled one stays so)."""
    staff = _get(session, name)
    before = public(staff)
    staff.disabled = True
    staff.updated_at = now
    session.add(staff)
    ended = revoke_sessions(session, staff, now)
    audit(
        session,
        action="staff.disable",
        entity="staff",
        entity_id=staff.id,
        actor=actor,
        at=now,
        data={"before": before, "after": public(staff), "sessions_revoked": ended},
    )
    return staff


def set_password(session: Session, name: str, password: str, *, actor: str, now: datetime) -> Staff:
    """A new password ends every session the old one opened."""
    staff = _get(session, name)
    staff.password_hash = hash_password(password)
    staff.password_changed_at = now
    staff.updated_at = now
    session.add(staff)
    ended = revoke_sessions(session, staff, now)
    audit(
        session,
        action="staff.passwd",
        entity="staff",
        entity_id=staff.id,
        actor=actor,
        at=now,
        data={
            "before": public(staff),
            "after": public(staff),
            "password_changed": True,
            "sessions_revoked": ended,
        },
    )
    return staff


def active_admins(session: Session) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(Staff)
            .where(col(Staff.role) == Role.ADMIN.value, col(Staff.disabled).is_(False))
        ).one()
    )
