"""Attachments: pick the document parts of a message and store them safely.

Files are stored content-addressed (sha256) under generated names; the declared
filename is kept only as metadata and never used as a path. Parts over the
per-part limit, or a message whose parts exceed the per-message limit, are
rejected with a reason instead of stored.

A message parsed with a `Spool` (the ingest pipeline's) streams its base64 document parts to
files as the parser finishes each one (`SpoolingMessage`): the decoded bytes are written in
chunks under the data folder and hashed on the way, and the parsed message keeps only the
file's name, so a message's attachments are never all held in memory, encoded or decoded.
Storing such a part is a rename into the content-addressed folder.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from email.policy import Policy, compat32
from pathlib import Path
from typing import Any

from comms.files import write_atomic

DOCUMENT_TYPES = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/tiff": ".tif",
}


CHUNK_CHARS = 1024 * 1024  # base64 characters decoded at a time (768 KiB of output)
_WHITESPACE = b" \t\r\n\x0b\x0c"
# what the chunked decoder takes: the base64 alphabet and line breaks, padding only at the end;
# anything else is decoded by the standard library, in memory, as before
_PLAIN_BASE64 = re.compile(r"[A-Za-z0-9+/\s]*(?:=\s*){0,2}")


@dataclass(frozen=True)
class Spooled:
    """A document part decoded to a file of the spool (not yet stored)."""

    path: Path
    size: int
    sha256: str
    too_large: bool = False  # over the per-part limit: the writing stopped, nothing kept


class Spool:
    """A folder for the decoded document parts of one message being processed."""

    def __init__(self, folder: Path, *, max_part: int) -> None:
        self.folder = folder
        self.max_part = max_part
        self.count = 0

    def base64_file(self, payload: str) -> Spooled | None:
        """`payload` (a base64 part body) decoded into a new file, a chunk at a time; None
        when it is not plain base64 (the caller decodes it as the standard library does)."""
        if _PLAIN_BASE64.fullmatch(payload) is None:
            return None
        self.count += 1
        path = self.folder / f"part{self.count}.bin"
        digest = hashlib.sha256()
        size = 0
        carry = b""
        with path.open("wb") as fh:
            for start in range(0, len(payload), CHUNK_CHARS):
                chunk = carry + payload[start : start + CHUNK_CHARS].encode("ascii")
                chunk = chunk.translate(None, _WHITESPACE)
                whole = len(chunk) - len(chunk) % 4
                carry = chunk[whole:]
                if size > self.max_part:
                    continue  # over the limit: read to the end for nothing more
                data = base64.b64decode(chunk[:whole], validate=True)
                size += len(data)
                digest.update(data)
                fh.write(data)
            if carry:
                if b"=" in carry or len(carry) == 1:
                    path.unlink()
                    return None  # odd padding: as the standard library reads it
                # what the standard library does with a short last group: pad it
                data = base64.b64decode(carry + b"=" * (4 - len(carry)), validate=True)
                size += len(data)
                digest.update(data)
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if size > self.max_part:
            path.unlink()
            return Spooled(path, size, "", too_large=True)
        return Spooled(path, size, digest.hexdigest())


@contextmanager
def spool_in(root: Path, *, max_part: int) -> Iterator[Spool]:
    """A spool folder under `root` (the documents folder, so storing is a rename), removed
    with whatever was not stored when the block ends."""
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=root, prefix=".spool-"))
    try:
        yield Spool(folder, max_part=max_part)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class SpoolingMessage(Message):
    """A message part that, given a spool, writes its body to it when it is a base64 document:
    the parser sets each part's body once, when the part ends, and the body is then dropped."""

    def __init__(self, policy: Policy = compat32, *, spool: Spool | None = None) -> None:
        super().__init__(policy)
        self.spool = spool
        self.spooled: Spooled | None = None

    def set_payload(self, payload: Any, charset: Any = None) -> None:
        if (
            self.spool is not None
            and self.spooled is None
            and isinstance(payload, str)
            and charset is None
            and str(self.get("content-transfer-encoding", "")).strip().lower() == "base64"
            and document_type(self) is not None
        ):
            spooled = self.spool.base64_file(payload)
            if spooled is not None:
                self.spooled = spooled
                payload = ""
        super().set_payload(payload, charset)


def spooling_factory(spool: Spool) -> Any:
    """The parser's message factory for `spool`."""

    def factory(policy: Policy = compat32) -> SpoolingMessage:
        return SpoolingMessage(policy, spool=spool)

    return factory


@dataclass(frozen=True)
class Part:
    declared_name: str | None
    content_type: str
    data: bytes | None = None  # in memory, or
    spooled: Spooled | None = field(default=None)  # in a file of the spool

    @property
    def size(self) -> int:
        return self.spooled.size if self.spooled is not None else len(self.data or b"")


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
        spooled = part.spooled if isinstance(part, SpoolingMessage) else None
        if spooled is not None:
            if spooled.too_large:
                rejected.append(Rejected(name, f"attachment over {max_part} bytes"))
                continue
            if spooled.size == 0:
                rejected.append(Rejected(name, "empty attachment"))
                continue
            if spooled.size > max_part:
                rejected.append(Rejected(name, f"attachment over {max_part} bytes"))
                continue
            total += spooled.size
            if total > max_total:
                rejected.append(
                    Rejected(name, f"attachments over {max_total} bytes in one message")
                )
                continue
            parts.append(Part(name, ctype, spooled=spooled))
            continue
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
        parts.append(Part(name, ctype, data=payload))
    return parts, rejected


def store_part(part: Part, root: Path) -> tuple[Path, str]:
    """Store `part` under ``root`` by its sha256: a spooled part's file is renamed into place
    (never read into memory); return (path, sha256). Idempotent."""
    spooled = part.spooled
    if spooled is None:
        return store(part.data or b"", part.content_type, root)
    ext = DOCUMENT_TYPES.get(part.content_type, ".bin")
    target = root / spooled.sha256[:2] / f"{spooled.sha256}{ext}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(spooled.path, target)
    return target, spooled.sha256


def store(data: bytes, content_type: str, root: Path) -> tuple[Path, str]:
    """Write ``data`` under ``root`` by its sha256; return (path, sha256). Idempotent."""
    digest = hashlib.sha256(data).hexdigest()
    ext = DOCUMENT_TYPES.get(content_type, ".bin")
    target = root / digest[:2] / f"{digest}{ext}"
    if target.exists():
        return target, digest
    write_atomic(target, data, prefix=".incoming-")
    return target, digest
