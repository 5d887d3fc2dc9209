"""Attachments: pick the document parts of a message and store them safely.

Files are stored content-addressed (sha256) under generated names; the declared
filename is kept only as metadata and never used as a path. Parts over the
per-part limit, or a message whose parts exceed the per-message limit, are
rejected with a reason instead of stored.

A message parsed with a `Spool` (the ingest pipeline's, `SpoolingParser`) streams its base64
document parts to files: each line of such a part goes to a file under the data folder as the
parser reads it, and when the part ends its text is decoded a chunk at a time into another,
hashed on the way. The parsed message keeps only that file, so an attachment is never held in
memory, encoded or decoded. Storing it is a rename into the content-addressed folder.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.feedparser import (  # type: ignore[attr-defined]
    BufferedSubFile,
    BytesFeedParser,
    NeedMoreData,
)
from email.message import Message
from email.policy import Policy, compat32
from pathlib import Path
from typing import Any, BinaryIO

from comms.errors import PermanentError
from comms.files import write_atomic

DOCUMENT_TYPES = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/tiff": ".tif",
}


CHUNK_BYTES = 1024 * 1024  # base64 text decoded at a time (768 KiB of output)
_WHITESPACE = b" \t\r\n\x0b\x0c"
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class NotPlainBase64(PermanentError, ValueError):
    """Characters outside the alphabet, or padding not at the end: the standard library's
    tolerant reading is used instead, in memory."""

    code = "not_plain_base64"


@dataclass(frozen=True)
class Spooled:
    """A document part decoded to a file of the spool (not yet stored)."""

    path: Path
    size: int
    sha256: str
    too_large: bool = False  # over the per-part limit: the writing stopped, nothing kept


class _Decoder:
    """Base64 text decoded into `out` as it comes, hashed, counted; the standard library's
    result for plain base64 (the alphabet and white space, padding only at the end)."""

    def __init__(self, out: BinaryIO, limit: int) -> None:
        self.out = out
        self.limit = limit
        self.digest = hashlib.sha256()
        self.size = 0
        self.carry = b""
        self.pads = 0

    def _write(self, text: bytes) -> None:
        if self.size > self.limit:
            return  # over the limit: read to the end for nothing more
        data = base64.b64decode(text, validate=True)
        self.size += len(data)
        self.digest.update(data)
        self.out.write(data)

    def feed(self, text: bytes) -> None:
        text = text.translate(None, _WHITESPACE)
        if text.translate(None, _ALPHABET + b"="):
            raise NotPlainBase64("a character outside the base64 alphabet")
        pad = 0 if self.pads else text.find(b"=")
        if pad >= 0:  # the padding: nothing but padding after it, two at most
            tail = text[pad:]
            if tail.strip(b"=") or self.pads + len(tail) > 2:
                raise NotPlainBase64("padding before the end")
            self.pads += len(tail)
            text = text[:pad]
        text = self.carry + text
        whole = len(text) - len(text) % 4
        self.carry = text[whole:]
        if whole:
            self._write(text[:whole])

    def finish(self) -> None:
        last = self.carry + b"=" * self.pads
        whole = len(last) - len(last) % 4
        rest = last[whole:]
        if b"=" in rest or len(rest) == 1:
            raise NotPlainBase64("odd padding")
        try:
            if whole:
                self._write(last[:whole])
            if rest:  # a short last group, as the standard library reads it: padded
                self._write(rest + b"=" * (4 - len(rest)))
        except binascii.Error as exc:
            raise NotPlainBase64(str(exc)) from None


class Spool:
    """A folder for the document parts of one message being processed: each base64 part's
    text is written to a file while the parser reads it, then decoded to another a chunk at
    a time."""

    def __init__(self, folder: Path, *, max_part: int) -> None:
        self.folder = folder
        self.max_part = max_part
        self.count = 0

    def new_file(self) -> Path:
        self.count += 1
        return self.folder / f"part{self.count}.b64"

    def decode(self, encoded: Path) -> Spooled | None:
        """The base64 text in `encoded` decoded into a new file; None when it is not plain
        base64 (the caller reads it as the standard library does)."""
        path = encoded.with_suffix(".bin")
        plain = True
        with encoded.open("rb") as src, path.open("wb") as out:
            decoder = _Decoder(out, self.max_part)
            try:
                while chunk := src.read(CHUNK_BYTES):
                    decoder.feed(chunk)
                decoder.finish()
            except NotPlainBase64:
                plain = False
            else:
                out.flush()
                os.fsync(out.fileno())
        if not plain or decoder.size > self.max_part:
            path.unlink()
        if not plain:
            return None
        if decoder.size > self.max_part:
            return Spooled(path, decoder.size, "", too_large=True)
        return Spooled(path, decoder.size, decoder.digest.hexdigest())


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
    """A message part that, given a spool, sends its body there when it is a base64 document:
    each line as the parser reads it (`SpoolingParser`), decoded when the part ends; the part
    keeps only the decoded file."""

    def __init__(self, policy: Policy = compat32, *, spool: Spool | None = None) -> None:
        super().__init__(policy)
        self.spool = spool
        self.spooled: Spooled | None = None
        self.encoded: Path | None = None
        self.sink: BinaryIO | None = None

    def headers_read(self) -> None:
        """The parser has read this part's headers: its body goes to the spool if it is a
        base64 document."""
        if (
            self.spool is not None
            and str(self.get("content-transfer-encoding", "")).strip().lower() == "base64"
            and document_type(self) is not None
        ):
            self.encoded = self.spool.new_file()
            self.sink = self.encoded.open("wb")

    def take(self, line: str) -> None:
        assert self.sink is not None
        self.sink.write(line.encode("ascii", "surrogateescape"))

    def set_payload(self, payload: Any, charset: Any = None) -> None:
        if self.sink is not None and self.spool is not None and self.encoded is not None:
            if isinstance(payload, str) and payload:  # what the parser kept (nothing, as a rule)
                self.take(payload)
            self.sink.close()
            self.sink = None
            self.spooled = self.spool.decode(self.encoded)
            # not plain base64: the text, for the standard library's tolerant decoding
            text = self.encoded.read_bytes() if self.spooled is None else b""
            payload = text.decode("ascii", "surrogateescape")
            self.encoded.unlink()
        super().set_payload(payload, charset)


class _Lines(BufferedSubFile):
    """The parser's input: the lines of a spooling part's body go to its spool file, and the
    parser gets an empty line for each (it would otherwise keep them all, then join them)."""

    def __init__(self, parser: SpoolingParser) -> None:
        super().__init__()
        self.parser = parser

    def __next__(self) -> Any:
        line = self.readline()
        if line == "":
            raise StopIteration
        current = self.parser.current()
        if (
            line is not NeedMoreData
            and isinstance(current, SpoolingMessage)
            and current.sink is not None
        ):
            current.take(line)
            return ""
        return line


class SpoolingParser(BytesFeedParser):
    """`BytesFeedParser` whose base64 document parts go to `spool` as they are read. It
    hooks two places of the standard parser (Python 3.11): the line source it reads every
    part through (`_input`) and the step after a part's headers (`_parse_headers`); the tests
    compare what it stores with the standard library's decoding, part by part."""

    def __init__(self, spool: Spool) -> None:
        def factory(policy: Policy = compat32) -> SpoolingMessage:
            return SpoolingMessage(policy, spool=spool)

        super().__init__(factory, policy=compat32)
        self._input = _Lines(self)

    def current(self) -> Message | None:
        found: Message | None = getattr(self, "_cur", None)
        return found

    def _parse_headers(self, lines: list[str]) -> None:
        super()._parse_headers(lines)  # type: ignore[misc]
        current = self.current()
        if isinstance(current, SpoolingMessage):
            current.headers_read()


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
