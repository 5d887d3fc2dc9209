"""Text parts whose declared charset cannot be trusted: the message is still processed and
its certificate recorded (a bad charset label never costs the attachment)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms.models import Certificate
from inbound.models import InboundEmail
from inbound.parse import decode_text, parse_mail
from tests.inbound.conftest import TEXT_PDF, ingest, make_world
from tests.inbound.test_hostile_mail import _attachment, _mixed

LONE_SURROGATE_UTF7 = ("Content-Type: text/plain; charset=utf-7", b"See attached +2D0- thanks")
NUL_IN_CHARSET = ('Content-Type: text/plain; charset="utf\x00-8"', b"See attached.")


@pytest.mark.parametrize(
    "text_part",
    [
        pytest.param(LONE_SURROGATE_UTF7, id="utf7-lone-surrogate"),
        pytest.param(NUL_IN_CHARSET, id="nul-in-charset-name"),
    ],
)
def test_bad_charset_on_the_text_still_records_the_certificate(
    sqlite_db: Engine, text_part: tuple[str, bytes]
) -> None:
    make_world(sqlite_db)
    raw = _mixed([text_part, _attachment("COI.pdf", "application/pdf", TEXT_PDF.read_bytes())])
    out = ingest(sqlite_db, raw)
    assert out.status == "processed", out.to_json()
    assert out.quarantined is None
    with Session(sqlite_db) as s:
        row = s.get(InboundEmail, out.inbound_id)
        assert row is not None and row.raw == raw
        certs = s.exec(select(Certificate).where(Certificate.source == "email")).all()
        assert len(certs) == 1 and certs[0].document_sha256


def test_lone_surrogates_are_replaced_in_body_and_headers() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: =?utf-7?Q?COI_+2D0-?=\r\n"
        b"Content-Type: text/plain; charset=utf-7\r\n\r\nhello +2D0- world"
    )
    parsed = parse_mail(raw)
    assert parsed.text == "hello \ufffd world"
    assert parsed.subject == "COI \ufffd"
    parsed.text.encode("utf-8")  # encodable: no lone surrogate survives
    parsed.subject.encode("utf-8")


def test_nul_in_charset_name_falls_back_to_utf8() -> None:
    raw = (
        b'From: a@example.com\r\nContent-Type: text/plain; charset="utf\x00-8"\r\n\r\n'
        + "café".encode()
    )
    assert parse_mail(raw).text == "café"
    assert decode_text("=?utf\x00-8?Q?caf=C3=A9?=") == "café"


def test_utf7_attachment_filename_with_lone_surrogate(sqlite_db: Engine) -> None:
    make_world(sqlite_db)
    data = TEXT_PDF.read_bytes()
    headers, payload = _attachment("x", "application/pdf", data)
    headers = headers.replace('filename="x"', "filename*=utf-7''COI+2D0-.pdf")
    raw = _mixed(
        [("Content-Type: text/plain; charset=utf-8", b"See attached."), (headers, payload)]
    )
    out = ingest(sqlite_db, raw)
    assert out.status == "processed", out.to_json()
    assert out.documents is not None and out.documents["read"][0]["name"] == "COI\ufffd.pdf"
