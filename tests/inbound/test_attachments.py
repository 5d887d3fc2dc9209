import base64
import hashlib
import random
import textwrap
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import compat32
from pathlib import Path

import pytest

from inbound import attachments
from inbound.attachments import (
    SpoolingMessage,
    document_parts,
    is_document,
    spool_in,
    store,
    store_part,
)
from inbound.parse import parse_mail


def _msg(name: str, data: bytes) -> EmailMessage:
    m = EmailMessage()
    m["Subject"] = "cert"
    m.set_content("see attached")
    m.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return m


def test_hostile_filename_never_becomes_a_path(tmp_path: Path) -> None:
    parts, rejected = document_parts(
        _msg("../../etc/passwd", b"%PDF-1.4 x"), max_part=1000, max_total=2000
    )
    assert rejected == []
    data = parts[0].data
    assert data is not None
    path, digest = store(data, parts[0].content_type, tmp_path)
    assert path.is_relative_to(tmp_path)
    assert path.name == f"{digest}.pdf"
    assert store(data, parts[0].content_type, tmp_path) == (path, digest)


def test_size_limits_reject_with_reason() -> None:
    parts, rejected = document_parts(_msg("big.pdf", b"x" * 5000), max_part=1000, max_total=2000)
    assert parts == []
    assert rejected[0].reason == "attachment over 1000 bytes"


def _parsed(raw: bytes) -> Message:
    return message_from_bytes(raw, policy=compat32)


def _b64_message(body: str) -> bytes:
    return (
        b"From: a@b.example\r\nSubject: cert\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n"
        b'Content-Type: application/pdf; name="c.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="c.pdf"\r\n\r\n'
        + body.encode("ascii")
        + b"\r\n--b--\r\n"
    )


@pytest.mark.parametrize(
    "body",
    [
        *(
            "\r\n".join(textwrap.wrap(base64.b64encode(bytes(range(256)) * n).decode(), width))
            for n, width in [(1, 76), (7, 76), (13, 64), (40, 1000)]
        ),
        base64.b64encode(b"%PDF-1.4 odd length!").decode().rstrip("="),  # padding left off
        "JVBERi0xLjQ=\r\nJVBE",  # padding in the middle: the standard library's reading
        "JVBERi0x*LjQ",  # a character outside the alphabet
        "JVBERi0xL",  # one character too many
    ],
)
def test_a_spooled_part_holds_what_the_standard_library_decodes(
    body: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attachments, "CHUNK_BYTES", 100)  # many chunks, odd boundaries
    raw = _b64_message(body)
    expected = next(p for p in _parsed(raw).walk() if is_document(p)).get_payload(decode=True)
    with spool_in(tmp_path, max_part=10**6) as spool:
        parts, rejected = document_parts(
            parse_mail(raw, spool=spool).msg, max_part=10**6, max_total=10**6
        )
        assert rejected == [] and len(parts) == 1
        path, digest = store_part(parts[0], tmp_path / "docs")
    assert path.read_bytes() == expected and digest == hashlib.sha256(expected).hexdigest()
    assert parts[0].size == len(expected)
    assert [p.name for p in tmp_path.iterdir()] == ["docs"]  # the spool is gone


def test_a_large_attachment_goes_to_disk_as_it_is_parsed(tmp_path: Path) -> None:
    data = b"%PDF-1.4\n" + random.Random(20).randbytes(6 * 1024 * 1024)
    raw = _msg("big.pdf", data).as_bytes()
    with spool_in(tmp_path, max_part=10 * 1024 * 1024) as spool:
        msg = parse_mail(raw, spool=spool).msg
        part = next(p for p in msg.walk() if is_document(p))
        # the parsed message keeps no copy of it, encoded or decoded: a file of the spool
        assert isinstance(part, SpoolingMessage) and part.spooled is not None
        assert part.get_payload() == "" and part.spooled.path.is_relative_to(spool.folder)
        assert part.spooled.path.stat().st_size == len(data)
        assert [p.suffix for p in spool.folder.iterdir()] == [".bin"]  # its text is gone
        parts, _ = document_parts(msg, max_part=10 * 1024 * 1024, max_total=20 * 1024 * 1024)
        assert parts[0].data is None and parts[0].size == len(data)
        path, digest = store_part(parts[0], tmp_path)
    assert path.read_bytes() == data and digest == hashlib.sha256(data).hexdigest()


def test_a_spooled_part_over_the_limit_is_refused_and_not_kept(tmp_path: Path) -> None:
    raw = _msg("big.pdf", b"%PDF" + b"x" * 5000).as_bytes()
    with spool_in(tmp_path, max_part=1000) as spool:
        msg = parse_mail(raw, spool=spool).msg
        parts, rejected = document_parts(msg, max_part=1000, max_total=2000)
        assert list(spool.folder.iterdir()) == []
    assert parts == [] and rejected[0].reason == "attachment over 1000 bytes"
