"""Every message is right for its reader: each template rendered for every role it can reach
(from the workflow files, the acknowledgment and the fallback of an agent step to the vendor)
over the example roster, as of several days, against the example configuration."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from comms.context import template_context
from comms.email.message import message_bytes, references_of
from comms.email.samples import load_samples, sample_context
from comms.models import Certificate, Delivery, Policy, Vendor
from comms.profiles import load_profiles
from comms.roster.importer import import_roster
from comms.settings import (
    Settings,
    SettingsError,
    get_settings,
    load_settings,
    reset_settings_cache,
)
from comms.templating import email_template_names, render_email, render_text
from inbound.acknowledge import hold_reason
from inbound.certificates import Recorded
from inbound.parse import parse_mail
from workflows.definitions import load_workflows

REPO = Path(__file__).resolve().parents[2]
IVR = "+16175550142"
IVR_WRITTEN = "(617) 555-0142"  # as messages write it (national form in the US)
# moments that put the example roster's vendors in every status (expiring, expired, deficient)
MOMENTS = [datetime(2026, 11, 28, 15, 0, tzinfo=UTC), datetime(2027, 1, 20, 15, 0, tzinfo=UTC)]
ASK_YOUR_AGENT = re.compile(r"ask your (insurance )?agent", re.IGNORECASE)
RECEIPT = re.compile(r"thank you|we (have )?received", re.IGNORECASE)
ACK = "receipt_acknowledgment"
REJECTED = "certificate_rejected"  # to the sender of a held certificate staff rejected


def reachable() -> dict[tuple[str, str], set[str]]:
    """(channel, template) -> the roles it can be sent to: a workflow step's recipients (an
    agent step goes to the vendor when there is no agent address), and the acknowledgment to
    whoever sent the certificate."""
    roles: dict[tuple[str, str], set[str]] = {
        ("email", ACK): {"agent", "vendor"},
        ("email", REJECTED): {"agent", "vendor"},
    }
    for wf in load_workflows().values():
        for step in wf.steps:
            found = roles.setdefault((step.channel, step.template), set())
            found.update(step.to)
            if step.channel == "email" and "agent" in step.to:
                found.add("vendor")
    return roles


@pytest.fixture
def roster(sqlite_db: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    monkeypatch.setenv("COMMS_CONFIG", str(REPO / "config" / "comms.example.toml"))
    monkeypatch.setenv("COMMS_IVR_NUMBER", IVR)
    reset_settings_cache()
    with Session(sqlite_db, expire_on_commit=False) as session:
        load_profiles(session, REPO / "config" / "requirements", now=MOMENTS[0])
        import_roster(session, REPO / "config" / "examples" / "roster.csv", now=MOMENTS[0])
        session.commit()
        yield session


def _received(ctx: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The acknowledgment's context: a certificate that did arrive by email."""
    return {
        **ctx,
        "certificate": {
            "received_at": now,
            "status": "accepted",
            "source": "email",
            "reference": "<m@agency.example>",
            "policies": [],
            "hold": None,
            "insured": None,
            "latest_expiration": None,
        },
    }


def _renders(session: Session, settings: Settings) -> Iterator[tuple[str, str, str, str, Vendor]]:
    """(template, role, text, what-it-is) for every reachable template, role, vendor, moment."""
    vendors = session.exec(select(Vendor).order_by(col(Vendor.id))).all()
    assert len(vendors) == 6
    for (channel, template), roles in sorted(reachable().items()):
        if channel not in ("email", "sms"):
            continue  # call scripts and prompts: the call desk's own tests
        for role in sorted(roles):
            for vendor in vendors:
                if role == "agent" and vendor.agent_id is None:
                    continue  # the vendor gets it: rendered under role "vendor"
                for now in MOMENTS:
                    ctx = template_context(
                        session, vendor, now=now, recipient_kind=role, settings=settings
                    )
                    if channel == "sms":
                        text = render_text(f"sms/{template}.txt", ctx)
                        yield template, role, text, "sms", vendor
                        continue
                    contexts = [("roster", ctx)]
                    if template == ACK:
                        contexts.append(("received", _received(ctx, now)))
                    if template == REJECTED:  # only ever about a certificate received
                        rejection = {"reason": "the insured is another company", "received_at": now}
                        contexts = [("received", {**_received(ctx, now), "rejection": rejection})]
                    for what, c in contexts:
                        out = render_email(template, c)
                        yield template, role, f"{out.subject}\n{out.text}", f"text/{what}", vendor
                        yield template, role, out.html, f"html/{what}", vendor


def test_every_reachable_template_follows_the_wording_rules(roster: Session) -> None:
    settings = get_settings()
    holder = [settings.holder_name, *settings.holder_address_lines]
    assert holder[0] == "Harborview Property Management LLC" and len(holder) == 3
    seen: set[tuple[str, str]] = set()
    count = 0
    for template, role, text, what, vendor in _renders(roster, settings):
        count += 1
        seen.add((template, role))
        where = f"{template} to {role} ({what}, {vendor.name})"
        if role == "agent":
            assert not ASK_YOUR_AGENT.search(text), where
        if what != "text/received" and what != "html/received":
            assert not RECEIPT.search(text), f"{where}: thanks for a certificate not received"
        if (
            role == "agent"
            and template not in (ACK, REJECTED)
            and what.startswith(("text", "html"))
        ):
            for line in holder:  # the holder, exactly, in every request to an agent
                assert line in text, f"{where}: no {line!r}"
            assert vendor.name in text
        if role == "vendor":  # the vendor's ID for the status line, and its number
            assert vendor.vendor_code and vendor.vendor_code in text, f"{where}: no vendor ID"
            assert IVR_WRITTEN in text, f"{where}: no status line number"
    assert count > 100
    wanted = {
        (t, r) for (c, t), roles in reachable().items() if c in ("email", "sms") for r in roles
    }
    assert seen == wanted
    # every email template is reachable by some step (or is the acknowledgment)
    assert {t for t, _ in seen} >= set(email_template_names())


def test_agent_request_carries_everything_to_issue_the_certificate(roster: Session) -> None:
    vendor = roster.exec(select(Vendor).where(Vendor.name == "Fresh Coat Painters")).one()
    ctx = template_context(roster, vendor, now=MOMENTS[0], recipient_kind="agent")
    out = render_email("certificate_request", ctx)
    assert out.text.startswith("Hello Lee Agent,")
    assert "your client Fresh Coat Painters" in out.subject
    for needed in (
        "Named insured: Fresh Coat Painters",
        "Certificate holder (exactly as written):\n    Harborview Property Management LLC\n"
        "    400 Atlantic Avenue, Suite 1200\n    Boston, MA 02110",
        "Additional insured: Harborview Property Management LLC, its officers, employees and"
        " agents are included as additional insureds on a primary and non-contributory basis",
        "Description of operations: Re: all work performed by the named insured",
        "Each-occurrence: at least $1,000,000",
        "Waiver of subrogation in favor of Harborview Property Management LLC",
        "Primary and non-contributory",
    ):
        assert needed in out.text, needed
    assert "Harborview Property Management LLC<br>400 Atlantic Avenue, Suite 1200" in out.html
    assert not ASK_YOUR_AGENT.search(out.text) and not RECEIPT.search(out.text)


def test_deficiency_notice_from_roster_data_does_not_thank(roster: Session) -> None:
    vendor = roster.exec(select(Vendor).where(Vendor.name == "Cedar Plumbing")).one()
    for role in ("agent", "vendor"):
        ctx = template_context(roster, vendor, now=MOMENTS[0], recipient_kind=role)
        out = render_email("deficiency_notice", ctx)
        assert "The certificate of insurance we have on file for Cedar Plumbing" in out.text
        assert not RECEIPT.search(out.subject + out.text)
        assert ("ask your insurance agent" in out.text) == (role == "vendor")


def _sample(scenario: str, kind: str, **certificate: Any) -> dict[str, Any]:
    ctx = sample_context(load_samples(), scenario, settings=get_settings(), recipient_kind=kind)
    if certificate:
        ctx["certificate"] = {**ctx["certificate"], **certificate}
    return ctx


def test_acknowledgment_lists_accepted_policies_one_per_line() -> None:
    out = render_email(ACK, _sample("compliant", "agent"))
    assert "Thank you. We received the certificate of insurance for Keystone Masonry" in out.text
    assert "\nAccepted:\n- General liability, policy GL-5500" in out.text
    assert "Accepted:-" not in out.text


def test_acknowledgment_says_the_insured_is_not_the_vendor() -> None:
    ctx = _sample("deficient", "agent", status="needs_review", hold="insured", insured="Acme LLC")
    out = render_email(ACK, ctx)
    assert "the named insured on it is Acme LLC, not Northside Roofing" in out.text
    assert "could not be read" not in out.text
    assert "the named insured on it is Acme LLC" in out.html


def test_acknowledgment_says_every_policy_expired() -> None:
    ctx = _sample("expired", "vendor", hold="expired", latest_expiration=date(2026, 9, 30))
    out = render_email(ACK, ctx)
    assert "every policy on it has already expired (the latest on September 30, 2026)" in out.text
    assert "could not be read" not in out.text and "Expired policies on it:" in out.text


def test_hold_reason_names_the_real_reason() -> None:
    def recorded(status: str, reasons: list[str], ends: list[date]) -> Recorded:
        cert = Certificate(id=1, vendor_id=1, status=status, extraction={"review_reasons": reasons})
        policies = [
            Policy(certificate_id=1, vendor_id=1, coverage="general_liability", expiration_date=e)
            for e in ends
        ]
        return Recorded(cert, policies, True, reasons)

    today = date(2026, 11, 2)
    mismatch = ["insured.name 'Acme LLC' does not match the vendor 'Bayside Electrical'"]
    assert hold_reason(recorded("needs_review", mismatch, [date(2027, 1, 1)]), today)[0] == (
        "insured"
    )
    lapsed = recorded("accepted", [], [date(2026, 9, 30), date(2026, 10, 1)])
    assert hold_reason(lapsed, today) == ("expired", date(2026, 10, 1))
    doubtful = recorded("needs_review", ["read with low confidence: limits"], [date(2027, 1, 1)])
    assert hold_reason(doubtful, today)[0] == "doubtful"
    assert hold_reason(recorded("accepted", [], [date(2027, 1, 1)]), today)[0] is None


def test_references_carry_the_whole_thread() -> None:
    raw = (
        b"From: agent@agency.example\r\nTo: coi@example.com\r\nSubject: Re: COI\r\n"
        b"Message-ID: <three@agency.example>\r\nIn-Reply-To: <two@example.com>\r\n"
        b"References: <one@example.com> <two@example.com>\r\n\r\nattached\r\n"
    )
    parsed = parse_mail(raw)
    thread = parsed.thread()
    assert thread == ["<one@example.com>", "<two@example.com>", "<three@agency.example>"]
    row = Delivery(
        id=7,
        idempotency_key="ack:1",
        template=ACK,
        channel="email",
        recipient="agent@agency.example",
        in_reply_to="<three@agency.example>",
        content={"references": thread},
    )
    assert references_of(row) == "<one@example.com> <two@example.com> <three@agency.example>"
    wire = message_bytes(row, get_settings()).decode()
    assert "In-Reply-To: <three@agency.example>" in wire
    refs = re.search(r"References:(.*?)\r\n(?!\s)", wire, re.S)
    assert refs is not None and refs.group(1).split() == thread
    alone = Delivery(
        id=8,
        idempotency_key="ack:2",
        template=ACK,
        channel="email",
        recipient="x@y.example",
        in_reply_to="<a@b>",
    )
    assert references_of(alone) == "<a@b>"


def test_start_up_refuses_smtp_without_a_holder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = tmp_path / "bare.toml"
    bare.write_text('smtp_host = "smtp.example.com"\n')
    monkeypatch.setenv("COMMS_CONFIG", str(bare))
    with pytest.raises(SettingsError, match="COMMS_HOLDER_NAME and COMMS_HOLDER_ADDRESS"):
        load_settings()
    monkeypatch.setenv("COMMS_HOLDER_NAME", "Harborview Property Management LLC")
    monkeypatch.setenv("COMMS_HOLDER_ADDRESS", "400 Atlantic Avenue; Boston, MA 02110")
    assert load_settings().holder_address_lines == ["400 Atlantic Avenue", "Boston, MA 02110"]
    monkeypatch.delenv("COMMS_HOLDER_NAME")
    monkeypatch.delenv("COMMS_HOLDER_ADDRESS")
    monkeypatch.delenv("COMMS_CONFIG")
    monkeypatch.setenv("COMMS_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    assert load_settings().holder_name == ""  # no SMTP: the .eml outbox needs no holder
