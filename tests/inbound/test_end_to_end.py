"""End to end: a renewal request goes out, the agent replies in its thread with a real ACORD 25
certificate, and the case resolves (or switches to `deficient`) and the agent is answered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from comms.app.cli import app
from comms.email.compose import queue_email
from comms.models import Case, CaseEvent, Certificate, Delivery, Vendor
from comms.tokens import token_from_address
from tests.inbound.conftest import (
    AGENT_EMAIL,
    SCAN_PDF,
    STRICT,
    WHEN,
    make_world,
    pdf,
    reply,
)
from tests.support.smtp_server import SmtpTestServer


def _request(engine: Engine, vendor_id: int, case_id: int) -> Delivery:
    """The renewal request the agent answers (queued as the workflow's first step would)."""
    with Session(engine, expire_on_commit=False) as s:
        vendor = s.get(Vendor, vendor_id)
        case = s.get(Case, case_id)
        assert vendor is not None and case is not None
        row, _ = queue_email(
            s,
            idempotency_key=f"case:{case_id}:request",
            template="renewal_request",
            vendor=vendor,
            recipient_kind="agent",
            now=WHEN,
            case=case,
        )
        row.status = "sent"
        s.add(row)
        s.commit()
        return row


def _ingest(tmp_path: Path, raw: bytes, name: str = "reply.eml") -> dict[str, Any]:
    path = tmp_path / name
    path.write_bytes(raw)
    result = CliRunner().invoke(app, ["ingest", str(path), "--json", "--now", WHEN.isoformat()])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def test_reply_with_certificate_resolves_case_and_is_answered_in_thread(
    use_db: Engine, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    world = make_world(use_db)
    request = _request(use_db, world.vendor_id, world.case_id)
    reply_to = request.content["reply_to"]
    assert token_from_address(reply_to, local_part="coi")
    raw = reply(
        to=reply_to,
        headers={"In-Reply-To": request.message_id or "", "References": request.message_id or ""},
        attachments=[pdf()],
    )
    out = _ingest(tmp_path, raw)

    assert out["classification"] == "reply"
    assert out["quarantined"] is None
    assert out["matched"]["method"] == "token"
    assert out["matched"]["vendor"]["id"] == world.vendor_id
    assert out["matched"]["case"]["id"] == world.case_id
    [cert] = out["certificates"]
    assert cert["status"] == "accepted" and cert["insured"] == "Lisa Gomez, LLC"
    assert {p["coverage"] for p in cert["policies"]} >= {"general_liability"}
    assert out["verdict"]["status"] == "compliant"
    assert out["reply_text"].startswith("Please find the renewed certificate attached.")

    with Session(use_db) as s:
        case = s.get(Case, world.case_id)
        assert case is not None and case.state == "resolved"
        kinds = [e.kind for e in s.exec(select(CaseEvent).where(CaseEvent.case_id == case.id))]
        assert "reply_received" in kinds
        stored = s.exec(select(Certificate).where(Certificate.source == "email")).one()
        assert stored.document_path and Path(stored.document_path).read_bytes()[:4] == b"%PDF"
        assert stored.document_sha256 and stored.document_sha256 in stored.document_path
        ack = s.get(Delivery, out["acknowledgment"])
        assert (
            ack is not None
            and ack.status == "sent"
            and ack.in_reply_to == "<reply-1@yahoo.example>"
        )

    [sent] = [m for m in smtp.messages if m.rcpt_tos == [AGENT_EMAIL]]
    msg = sent.message
    assert msg["In-Reply-To"] == "<reply-1@yahoo.example>"
    assert msg["Subject"].startswith("RE: Certificate of insurance renewal")
    body = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Accepted:" in body and "7843243-A" in body
    assert "Nothing else is needed" in body


def test_deficient_certificate_switches_to_deficient_and_says_what_is_missing(
    use_db: Engine, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    world = make_world(use_db, profile=STRICT)
    out = _ingest(tmp_path, reply(attachments=[pdf()]))
    assert out["matched"]["method"] == "sender"
    assert out["verdict"]["status"] == "non_compliant"
    assert any("$1,000,000 is required" in d["message"] for d in out["verdict"]["deficiencies"])
    with Session(use_db) as s:
        # one conversation per vendor: the deficient trigger joined the open case
        open_ = s.exec(select(Case).where(Case.state == "active")).all()
        assert [(c.id, c.trigger) for c in open_] == [(world.case_id, "deficient")]
    [sent] = smtp.messages
    body = sent.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Still missing:" in body
    assert "$400,000; $1,000,000 is required" in body


def test_unsure_extraction_is_held_for_review_and_named(
    use_db: Engine, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    world = make_world(use_db)
    out = _ingest(tmp_path, reply(attachments=[pdf(SCAN_PDF, "scan.pdf")]))
    [cert] = out["certificates"]
    assert cert["status"] == "needs_review"
    assert cert["doubtful_fields"]  # the fields the extractor was unsure of are named
    assert any("insured.name" in r for r in cert["review_reasons"])  # another insured
    with Session(use_db) as s:
        case = s.get(Case, world.case_id)
        assert case is not None and case.state == "active"  # not counted until reviewed
    [sent] = smtp.messages
    body = sent.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "our staff will check it" in body


def test_ingesting_the_same_file_twice_processes_it_once(
    use_db: Engine, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    make_world(use_db)
    raw = reply(attachments=[pdf()])
    first = _ingest(tmp_path, raw)
    second = _ingest(tmp_path, raw, "again.eml")
    assert second["inbound_id"] == first["inbound_id"]
    assert second["acknowledgment"] == first["acknowledgment"]
    with Session(use_db) as s:
        assert len(s.exec(select(Certificate).where(Certificate.source == "email")).all()) == 1
    assert len(smtp.messages) == 1


def test_staff_review_held_certificates_and_the_case_follows(
    use_db: Engine, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    # The roster knows the vendor by its trade name; the certificate names the legal entity.
    world = make_world(use_db, name="Gomez Interiors")
    runner = CliRunner()
    wrong = _ingest(tmp_path, reply(attachments=[pdf(SCAN_PDF, "scan.pdf")]))
    right = _ingest(tmp_path, reply(attachments=[pdf()], message_id="<r2@x>"), "r2.eml")
    assert [c["status"] for c in wrong["certificates"] + right["certificates"]] == [
        "needs_review",
        "needs_review",
    ]
    assert "insured.name" in right["certificates"][0]["doubtful_fields"]
    listed = json.loads(runner.invoke(app, ["certificates", "list", "--json"]).stdout)
    assert len(listed) == 2
    # The scan is another company's certificate: staff reject it.
    scan_id = str(wrong["certificates"][0]["id"])
    done = runner.invoke(app, ["certificates", "review", scan_id, "--reject", "--by", "kim"])
    assert done.exit_code == 0 and "rejected" in done.stdout
    again = runner.invoke(app, ["certificates", "review", scan_id, "--accept"])
    assert again.exit_code == 2 and "not needs_review" in again.output
    with Session(use_db) as s:
        case = s.get(Case, world.case_id)
        assert case is not None and case.state == "active"
    # The other one is right: accepting it resolves the case.
    ok = runner.invoke(
        app,
        [
            "certificates",
            "review",
            str(right["certificates"][0]["id"]),
            "--accept",
            "--now",
            WHEN.isoformat(),
        ],
    )
    assert ok.exit_code == 0, ok.output
    with Session(use_db) as s:
        case = s.get(Case, world.case_id)
        assert case is not None and case.state == "resolved"
