"""Attachments: pick the document parts of a message and store them safely.

Files are stored content-addressed (sha256) under generated names; the declared
filename is kept only as metadata and never used as a path. Parts over the
per-part limit, or a message whose parts exceed the per-message limit, are
rejected with a reason instead of stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from comms.files import write_atomic

DOCUMENT_TYPES = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/tiff": ".tif",
}


@dataclass(frozen=True)
class Part:
    declared_name: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Rejected:
    declared_name: str | None
    reason: str


def _inline_image(part: Message, ctype: str) -> bool:
    """A picture shown in the body (a signature logo), not an attached document."""
    if not ctype.startswith("image/"):
        return False
    disposition = str(part.get("Content-Disposition") or "").strip().lower()
    return part.get("Content-ID") is not None and not disposition.startswith("attachment")


def document_type(part: Message) -> str | None:
    """The document content type of ``part`` (by type, else by file extension), or None."""
    try:
        ctype = part.get_content_type()
        name = (part.get_filename() or "").lower()
    except Exception:
        return None
    found = ctype if ctype in DOCUMENT_TYPES else None
    if found is None:
        for ctype_, ext in DOCUMENT_TYPES.items():
            if name.endswith(ext) or (ext == ".jpg" and name.endswith(".jpeg")):
                found = ctype_
                break
    if found is None or _inline_image(part, found):
        return None
    return found


def is_document(part: Message) -> bool:
    return document_type(part) is not None


def document_parts(
    msg: Message, *, max_part: int, max_total: int
) -> tuple[list[Part], list[Rejected]]:
    """The PDF/image parts of ``msg`` within the limits, and the ones refused."""
    parts: list[Part] = []
    rejected: list[Rejected] = []
    total = 0
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = document_type(part)
        if ctype is None:
            continue
        try:
            name = part.get_filename()
        except Exception:
            name = None
        try:
            payload = part.get_payload(decode=True)
        except Exception as exc:
            rejected.append(Rejected(name, f"undecodable part: {exc}"))
            continue
        if not isinstance(payload, bytes) or not payload:
            rejected.append(Rejected(name, "empty attachment"))
            continue
        if len(payload) > max_part:
            rejected.append(Rejected(name, f"attachment over {max_part} bytes"))
            continue
        total += len(payload)
        if total > max_total:
            rejected.append(Rejected(name, f"attachments over {max_total} bytes in one message"))
            continue
        parts.append(Part(name, ctype, payload))
    return parts, rejected


def store(data: bytes, content_type: str, root: Path) -> tuple[Path, str]:
    """Write ``data`` under ``root`` by its sha256; return (path, sha256). Idempotent."""
    digest = hashlib.sha256(data).hexdigest()
    ext = DOCUMENT_TYPES.get(content_type, ".bin")
    target = root / digest[:2] / f"{digest}{ext}"
    if target.exists():
        return target, digest
    write_atomic(target, data, prefix=".incoming-")
    return target, digest
