"""The result of the last stored-verdict check, kept for `/metrics`.

`comms verdicts check` compares every stored verdict with a fresh computation (a full pass:
run it from cron, say nightly). Each run writes its result as an audit row (entity
`stored_verdicts`, action `verdicts.check`, the counts in its data), and `/metrics` reads the
newest one with one index lookup (`ix_audit_log_entity`), so a scrape never recomputes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from comms.models import AuditLog
from comms.models.audit import audit

ENTITY = "stored_verdicts"
ACTION = "verdicts.check"


@dataclass(frozen=True)
class DriftCheck:
    at: datetime
    vendors: int  # vendors whose stored verdict differed from a fresh computation
    counts: int  # (profile, status) counts kept wrong


def record_check(session: Session, *, at: datetime, vendors: int, counts: int) -> None:
    """Keep one check's result (committed with the session)."""
    audit(
        session,
        action=ACTION,
        entity=ENTITY,
        at=at,
        data={"drift_vendors": vendors, "drift_counts": counts},
    )


def last_check(session: Session) -> DriftCheck | None:
    """The newest check's result, or None when no check has run."""
    row = session.exec(
        select(AuditLog)
        .where(
            col(AuditLog.entity) == ENTITY,
            col(AuditLog.entity_id).is_(None),
            col(AuditLog.action) == ACTION,
        )
        .order_by(col(AuditLog.at).desc(), col(AuditLog.id).desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    data = row.data or {}
    return DriftCheck(row.at, int(data.get("drift_vendors", 0)), int(data.get("drift_counts", 0)))
