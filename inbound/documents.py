"""The documents of a message: store each one by sha256, then read it as an ACORD 25.

Nothing here touches the database, so the slow part (the extractor runs in a time- and
memory-limited child process) never holds a transaction open. A document that cannot be read
(encrypted, corrupt, a decompression bomb, over the size limit) is refused with a reason
that names it; attachments that are not documents (a .zip, a .docx) are listed as ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from comms.metrics import EXTRACTION_SECONDS
from inbound.acord25 import Extraction, ExtractionError, extract_certificate
from inbound.attachments import document_parts, is_document, store_part
from inbound.parse import decode_text

log = logging.getLogger(__name__)


@dataclass
class Document:
    name: str | None
    content_type: str
    sha256: str
    path: Path
    size: int
    extraction: Extraction


@dataclass
class Documents:
    read: list[Document] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[dict[str, Any]] = field(default_factory=list)

    @property
    def certificates(self) -> list[Document]:
        """ACORD 25s, and other ACORD forms sent instead (24, 27, 28...: held for review)."""
        return [d for d in self.read if d.extraction.is_acord25 or d.extraction.data.get("form")]

    def refusal_reason(self) -> str | None:
        if not self.refused:
            return None
        return "; ".join(
            f"{r['name'] or 'unnamed attachment'}: {r['reason']}" for r in self.refused
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "read": [
                {
                    "name": d.name,
                    "content_type": d.content_type,
                    "sha256": d.sha256,
                    "size": d.size,
                    "is_acord25": d.extraction.is_acord25,
                    "warnings": list(d.extraction.warnings),
                }
                for d in self.read
            ],
            "refused": self.refused,
            "ignored": self.ignored,
        }


def _safe_name(name: str | None) -> str | None:
    """The declared filename for display only (it is never used as a path)."""
    if name is None:
        return None
    return decode_text(name).replace("\x00", "")[:200]


def _ignored_parts(msg: Message, taken: set[int]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in msg.walk():
        if part.is_multipart() or id(part) in taken:
            continue
        try:
            name = part.get_filename()
            disposition = str(part.get("Content-Disposition") or "").lower()
        except Exception:
            continue
        if name or disposition.startswith("attachment"):
            out.append(
                {
                    "name": _safe_name(name),
                    "content_type": part.get_content_type(),
                    "reason": "not a PDF or image",
                }
            )
    return out


def read_documents(
    msg: Message,
    *,
    root: Path,
    max_part: int,
    max_total: int,
    timeout_s: float = 60.0,
) -> Documents:
    """Store and extract every PDF/image attachment of ``msg``."""
    docs = Documents()
    parts, rejected = document_parts(msg, max_part=max_part, max_total=max_total)
    for r in rejected:
        docs.refused.append({"name": _safe_name(r.declared_name), "reason": r.reason})
    for part in parts:
        path, sha256 = store_part(part, root)
        name = _safe_name(part.declared_name)
        # one document in memory at a time, for the extractor's child
        data = part.data if part.data is not None else path.read_bytes()
        try:
            with EXTRACTION_SECONDS.time():
                extraction = extract_certificate(data, filename=name, timeout_s=timeout_s)
        except ExtractionError as exc:
            docs.refused.append(
                {"name": name, "reason": f"{exc.code}: {exc.reason}", "sha256": sha256}
            )
            log.info("attachment refused (%s): %s", exc.code, exc.reason)
            continue
        size = part.size
        docs.read.append(Document(name, part.content_type, sha256, path, size, extraction))
    taken = {id(p) for p in msg.walk() if not p.is_multipart() and is_document(p)}
    docs.ignored = _ignored_parts(msg, taken)
    return docs
