from email.message import EmailMessage
from pathlib import Path

from inbound.attachments import document_parts, store


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
    path, digest = store(parts[0].data, parts[0].content_type, tmp_path)
    assert path.is_relative_to(tmp_path)
    assert path.name == f"{digest}.pdf"
    assert store(parts[0].data, parts[0].content_type, tmp_path) == (path, digest)


def test_size_limits_reject_with_reason() -> None:
    parts, rejected = document_parts(_msg("big.pdf", b"x" * 5000), max_part=1000, max_total=2000)
    assert parts == []
    assert rejected[0].reason == "attachment over 1000 bytes"
