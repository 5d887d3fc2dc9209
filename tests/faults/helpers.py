"""What the fault tests share: queued emails, counts of what the SMTP server received."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from comms.email.compose import EmailRequest, queue_emails
from comms.models import Delivery
from comms.settings import get_settings
from tests.email.helpers import make_vendor
from tests.support.smtp_server import SmtpTestServer


def queued_emails(db: Engine, now: datetime, tag: str, count: int) -> list[int]:
    """A reminder queued to each of `count` new vendors (`{tag}{i}@acme.test`); their ids."""
    with Session(db, expire_on_commit=False) as s:
        vendors = [
            make_vendor(s, now, name=f"{tag}{i}", email=f"{tag}{i}@acme.test") for i in range(count)
        ]
        created = queue_emails(
            s,
            [
                EmailRequest(idempotency_key=f"{tag}:{v.id}", template="reminder", vendor=v)
                for v in vendors
            ],
            now=now,
            settings=get_settings(),
        )
        s.commit()
    return [c.id for c in created if c.id is not None]


def received(smtp: SmtpTestServer) -> Counter[str]:
    """How many times each Message-ID arrived."""
    with smtp.lock:
        return Counter(str(m.message["Message-ID"]) for m in smtp.messages)


def statuses(db: Engine, ids: list[int]) -> Counter[str]:
    with Session(db) as s:
        rows = s.exec(select(Delivery.status).where(col(Delivery.id).in_(ids))).all()
    return Counter(rows)
