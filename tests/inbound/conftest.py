"""Fixtures for the inbound pipeline: a vendor whose real certificate arrives by email."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.models import Case
from comms.profiles import ProfileSpec
from inbound.outcome import IngestResult
from inbound.pipeline import process_message
from inbound.store import store_raw
from tests.conftest import SAMPLES
from tests.support import factory
from tests.support.scheduler_fixtures import _fresh_broker, smtp  # noqa: F401
from workflows.lifecycle import reevaluate_vendor

ACORD = SAMPLES / "acord25"
TEXT_PDF = ACORD / "acord_25_2016_03_sample.pdf"  # insured "Lisa Gomez, LLC"; GL to 2021-01-17
SCAN_PDF = ACORD / "acord_25_2010_05_2014_01_sample.pdf"  # an image only: read by OCR
AGENT_EMAIL = "tiffany.edison@yahoo.com"  # the producer's contact on the sample
VENDOR_EMAIL = "office@lisagomez.example"
# The sample's general liability runs 2020-01-17 .. 2021-01-17.
WHEN = datetime(2020, 6, 1, 15, 0, tzinfo=UTC)  # a Monday

BASIC = ProfileSpec.model_validate(
    {
        "name": "basic-gl",
        "coverages": {"general_liability": {"limits": {"each_occurrence": 300000}}},
    }
)
STRICT = ProfileSpec.model_validate(
    {
        "name": "strict-gl",
        "coverages": {
            "general_liability": {
                "limits": {"each_occurrence": 1000000},
                "additional_insured": True,
            }
        },
    }
)


@dataclass
class World:
    engine: Engine
    vendor_id: int
    agent_id: int
    case_id: int


def make_world(
    engine: Engine,
    *,
    profile: ProfileSpec = BASIC,
    now: datetime = WHEN,
    name: str = "Lisa Gomez LLC",
) -> World:
    """Lisa Gomez, LLC: an old certificate that expires in June 2020, so an expiring case."""
    with Session(engine, expire_on_commit=False) as s:
        agent = factory.agent(
            s, name="Tiffany Edison", agency="Damon Bogich, LLC", email=AGENT_EMAIL
        )
        vendor = factory.vendor(
            s,
            name=name,
            contact_name=None,
            email=VENDOR_EMAIL,
            phone="+13135550142",
            vendor_code="4401",
            profile=factory.profile(s, profile),
            agent=agent,
        )
        factory.cover(s, vendor, received_at=now, expires=date(2020, 6, 20), number="GL-OLD")
        s.commit()
        cases = reevaluate_vendor(s, vendor.id or 0, now=now, reason="test setup")
        s.commit()
        assert len(cases) == 1 and isinstance(cases[0], Case)
        return World(engine, vendor.id or 0, agent.id or 0, cases[0].id or 0)


def reply(
    *,
    sender: str = AGENT_EMAIL,
    to: str = "coi@example.com",
    subject: str = "RE: Certificate of insurance renewal: Lisa Gomez LLC",
    text: str = "Please find the renewed certificate attached.\n\nTiffany",
    attachments: list[tuple[str, str, bytes]] | None = None,
    headers: dict[str, str] | None = None,
    message_id: str = "<reply-1@yahoo.example>",
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Tiffany Edison <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(WHEN)
    msg["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    for filename, ctype, data in attachments or []:
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def pdf(path: Path = TEXT_PDF, name: str = "COI.pdf") -> tuple[str, str, bytes]:
    return (name, "application/pdf", path.read_bytes())


def ingest(
    engine: Engine, raw: bytes, *, now: datetime = WHEN, source: str = "file"
) -> IngestResult:
    """Store ``raw`` and process it; acknowledgments are left queued (see ``acks_of``)."""
    with Session(engine, expire_on_commit=False) as s:
        row, _ = store_raw(s, raw, source=source, now=now)
    assert row.id is not None
    return process_message(row.id, now=now, engine=engine, enqueue=lambda *a, **k: None)
