"""Hostile mail: nothing crashes; each message is handled or quarantined with a reason."""

from __future__ import annotations

import base64
import io
import os
import zipfile
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms.models import Certificate
from inbound.models import InboundEmail
from tests.inbound.conftest import AGENT_EMAIL, TEXT_PDF, ingest, make_world
from tests.support.pdfs import encrypted_pdf, flate_bomb_pdf

HEAD = f"From: Tiffany <{AGENT_EMAIL}>\r\nTo: coi@example.com\r\nMessage-ID: <h@x.example>\r\n"


def _zip_bomb() -> bytes:
    """A zip whose one member inflates to 200 MB (about 200 KB on the wire)."""
    buf = io.BytesIO()
    block = b"\0" * (1 << 20)
    with (
        zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z,
        z.open("coi.pdf", "w", force_zip64=True) as member,
    ):
        for _ in range(200):
            member.write(block)
    return buf.getvalue()


def _mixed(parts: list[tuple[str, bytes]], boundary: str = "b1") -> bytes:
    body = b""
    for headers, payload in parts:
        body += f"--{boundary}\r\n{headers}\r\n\r\n".encode() + payload + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return (
        HEAD + f"Subject: COI\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
    ).encode() + body


def _attachment(name: str, ctype: str, data: bytes) -> tuple[str, bytes]:
    headers = (
        f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: base64\r\n"
        f'Content-Disposition: attachment; filename="{name}"'
    )
    return headers, base64.encodebytes(data)


TEXT = ("Content-Type: text/plain; charset=utf-8", b"See attached.")


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        pytest.param(
            (
                HEAD + 'Subject: x\r\nContent-Type: multipart/mixed; boundary="NOPE"\r\n\r\n'
                "--OTHER\r\nContent-Type: text/plain\r\n\r\nhello\r\n--OTHER\r\n"
                "Content-Type: application/pdf\r\n\r\n%PDF-1.4 trunc"
            ).encode(),
            "processed",
            None,
            id="broken-boundaries",
        ),
        pytest.param(
            (
                HEAD + "Subject: =?x-klingon?Q?qapla=E9?=\r\n"
                "Content-Type: text/plain; charset=x-unknown\r\n\r\n"
            ).encode()
            + b"caf\xe9 \xff\xfe",
            "processed",
            None,
            id="unknown-charset",
        ),
        pytest.param(
            HEAD.encode() + b"Subject: Certificat d\xe9j\xe0 envoy\xe9 \xff\r\n"
            b"X-Name: \xc3\x28\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\xe9t\xe9\r\n",
            "processed",
            None,
            id="8bit-headers",
        ),
        pytest.param(
            b"\x00\x01\x02 not a mail at all \xff\xfe\r\n\r\n\x00", "review", None, id="binary-junk"
        ),
        pytest.param(b"", "review", None, id="empty"),
        pytest.param(
            _mixed([TEXT, _attachment("coi.zip", "application/zip", _zip_bomb())]),
            "processed",
            None,
            id="zip-bomb-attached-as-zip",
        ),
        pytest.param(
            _mixed([TEXT, _attachment("coi.pdf", "application/pdf", _zip_bomb())]),
            "quarantined",
            "coi.pdf",
            id="zip-bomb-named-pdf",
        ),
        pytest.param(
            _mixed([TEXT, _attachment("locked.pdf", "application/pdf", encrypted_pdf())]),
            "quarantined",
            "locked.pdf: encrypted",
            id="encrypted-pdf",
        ),
        pytest.param(
            _mixed([TEXT, _attachment("bomb.pdf", "application/pdf", flate_bomb_pdf())]),
            "quarantined",
            "bomb.pdf",
            id="flate-bomb-pdf",
        ),
    ],
)
def test_hostile_message_is_handled_or_quarantined(
    sqlite_db: Engine, raw: bytes, status: str, reason: str | None
) -> None:
    make_world(sqlite_db)
    out = ingest(sqlite_db, raw)
    assert out.status == status, out.to_json()
    if reason is None:
        assert out.quarantined is None
    else:
        assert out.quarantined is not None and reason in out.quarantined
    with Session(sqlite_db) as s:
        row = s.get(InboundEmail, out.inbound_id)
        assert row is not None and row.raw == raw  # the raw bytes are kept whatever happened


def test_path_traversal_filename_is_never_a_path(sqlite_db: Engine, tmp_path: Path) -> None:
    make_world(sqlite_db)
    name = "../../etc/passwd"
    out = ingest(
        sqlite_db, _mixed([TEXT, _attachment(name, "application/pdf", TEXT_PDF.read_bytes())])
    )
    assert out.status == "processed"
    with Session(sqlite_db) as s:
        cert = s.exec(select(Certificate).where(Certificate.source == "email")).one()
    stored = Path(cert.document_path or "")
    assert stored.name == f"{cert.document_sha256}.pdf" and ".." not in stored.parts
    assert out.documents is not None and out.documents["read"][0]["name"] == name  # display only


def test_fifty_megabyte_attachment(sqlite_db: Engine) -> None:
    make_world(sqlite_db)
    big = b"%PDF-1.4\n" + os.urandom(50 * 1024 * 1024)
    out = ingest(sqlite_db, _mixed([TEXT, _attachment("huge.pdf", "application/pdf", big)]))
    assert out.status == "quarantined"
    assert out.quarantined is not None and "COMMS_MAX_MESSAGE_BYTES" in out.quarantined


def test_attachment_over_the_part_limit(sqlite_db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMS_MAX_ATTACHMENT_BYTES", str(2 * 1024 * 1024))
    from comms.settings import reset_settings_cache

    reset_settings_cache()
    make_world(sqlite_db)
    big = b"%PDF-1.4\n" + os.urandom(3 * 1024 * 1024)
    out = ingest(sqlite_db, _mixed([TEXT, _attachment("big.pdf", "application/pdf", big)]))
    assert out.status == "quarantined"
    assert (
        out.quarantined == f"attachment refused: big.pdf: attachment over {2 * 1024 * 1024} bytes"
    )
