"""Parse raw message bytes without trusting them.

The stdlib parser with the compat32 policy never raises on a broken structure; it records
defects instead (a missing boundary, bad base64). Headers are decoded here, once: RFC 2047
words with an unknown charset, and raw 8-bit bytes, are decoded with replacement characters
rather than refused. The text of the message is its first text/plain part, or its HTML turned
into text when there is none.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from email.feedparser import BytesFeedParser
from email.header import decode_header
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

from inbound.attachments import Spool, SpoolingParser

MAX_TEXT_CHARS = 200_000
REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
_MSG_ID = re.compile(r"<[^<>\s]+>")
_FOREIGN_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")  # not a surrogate escape


@dataclass
class ParsedMail:
    msg: Message
    sender: str  # the From address, lowercased ("" when there is none)
    sender_name: str
    subject: str
    message_id: str | None
    text: str
    defects: list[str] = field(default_factory=list)

    @property
    def references(self) -> list[str]:
        return [*header_values(self.msg, "In-Reply-To"), *header_values(self.msg, "References")]

    def thread(self) -> list[str]:
        """The References of an answer to this message (RFC 5322 3.6.4): its References (else
        its In-Reply-To), then its own Message-ID; each id once, oldest first."""
        earlier = _MSG_ID.findall(" ".join(header_values(self.msg, "References")))
        if not earlier:
            earlier = _MSG_ID.findall(" ".join(header_values(self.msg, "In-Reply-To")))
        ids = [*earlier, *([self.message_id] if self.message_id else [])]
        return list(dict.fromkeys(ids))


def header_values(msg: Message, name: str) -> list[str]:
    """Every value of header ``name``, decoded to text (never raises)."""
    try:
        values = msg.get_all(name, [])
    except Exception:
        return []
    return [decode_text(v) for v in values]


def decode_text(value: object) -> str:
    """A header value as text: RFC 2047 words decoded, unknown charsets and 8-bit replaced."""
    if not isinstance(value, str):
        value = str(value)
    # compat32 keeps undecodable 8-bit header bytes as surrogate escapes (U+DC80..U+DCFF);
    # any other surrogate (an RFC 2231 filename in UTF-7, say) cannot be escaped back
    value = _FOREIGN_SURROGATE.sub(REPLACEMENT, value)
    raw = value.encode("utf-8", "surrogateescape")
    text = raw.decode("utf-8", "replace")
    try:
        parts = decode_header(text)
    except Exception:
        return text
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        out.append(_decode_bytes(chunk, charset))
    return re.sub(r"[\r\n\t]+", " ", "".join(out)).strip()


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """``data`` as text in ``charset``; an unknown or malformed charset name (one holding a
    NUL, say) falls back to UTF-8, and the result never holds a lone surrogate."""
    name = (charset or "utf-8").strip().lower()
    try:
        codecs.lookup(name)
    except (LookupError, ValueError):
        name = "utf-8"
    try:
        text = data.decode(name, "replace")
    except Exception:
        text = data.decode("latin-1")
    return without_surrogates(text)


def without_surrogates(text: str) -> str:
    """``text`` with every surrogate code point replaced by U+FFFD.

    A decoder can yield a lone surrogate (UTF-7 ``+2D0-`` is U+D83D on its own); such a str
    cannot be encoded as UTF-8, so it could never be stored or logged. A well-formed str never
    holds a surrogate pair (those decode to one astral code point), so every one is lone.
    """
    return _SURROGATE.sub(REPLACEMENT, text)


def part_text(part: Message) -> str:
    """The decoded text of a single non-multipart part."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return without_surrogates(raw) if isinstance(raw, str) else ""
    charset = None
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return _decode_bytes(payload[: MAX_TEXT_CHARS * 4], charset)


class _TextOfHtml(HTMLParser):
    _BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "blockquote", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag in self._BLOCKS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head") and self._skip:
            self._skip -= 1
        elif tag in self._BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    parser = _TextOfHtml()
    try:
        parser.feed(html)
        parser.close()
    except Exception:
        return re.sub(r"<[^>]+>", " ", html)
    text = "".join(parser.out)
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def _is_attachment(part: Message) -> bool:
    try:
        disposition = (part.get("Content-Disposition") or "").lower()
    except Exception:
        return False
    return disposition.startswith("attachment")


def body_text(msg: Message) -> str:
    """The first inline text/plain part, else the first text/html part as text."""
    html: str | None = None
    for part in msg.walk():
        if part.is_multipart() or _is_attachment(part):
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain":
            return part_text(part)[:MAX_TEXT_CHARS]
        if ctype == "text/html" and html is None:
            html = part_text(part)
        if ctype == "message/rfc822":
            break  # a forwarded or bounced message: not this message's own text
    return html_to_text(html)[:MAX_TEXT_CHARS] if html else ""


# A message is a tree of parts; the parser descends it recursively, so a message of a
# thousand nested multiparts would exhaust the stack. No real mail has more than a few dozen
# multipart containers: more than this is refused before parsing (`multipart_count`, a
# linear scan that is an upper bound of the nesting depth).
MAX_MULTIPARTS = 100
_HEAD_SCAN = 256 * 1024  # the header block is read from this much of the start
_MULTIPART = re.compile(rb"^content-type:\s*multipart/", re.IGNORECASE | re.MULTILINE)


def multipart_count(raw: bytes) -> int:
    """How many multipart Content-Type headers `raw` has (no parsing, no recursion)."""
    return sum(1 for _ in _MULTIPART.finditer(raw))


_FEED = 64 * 1024  # bytes given to the parser at a time


def parse_message(raw: bytes, spool: Spool | None = None) -> Message:
    """The message tree of ``raw``, fed to the parser in slices (no copy of the whole message
    as text); with a spool, its base64 documents go to files as they are read
    (`inbound.attachments.SpoolingParser`)."""
    parser: BytesFeedParser[Message] = (
        SpoolingParser(spool) if spool is not None else BytesFeedParser(policy=compat32)
    )
    view = memoryview(raw)
    for start in range(0, len(raw), _FEED):
        parser.feed(bytes(view[start : start + _FEED]))
    return parser.close()


def parse_mail(raw: bytes, *, spool: Spool | None = None) -> ParsedMail:
    """Parse ``raw`` (never raises on malformed input)."""
    msg = parse_message(raw, spool)
    defects = [type(d).__name__ for d in getattr(msg, "defects", [])]
    for part in msg.walk():
        defects.extend(type(d).__name__ for d in getattr(part, "defects", []) if part is not msg)
    from_values = header_values(msg, "From")
    name, address = parseaddr(from_values[0]) if from_values else ("", "")
    if not address and from_values:
        pairs = getaddresses(from_values)
        name, address = pairs[0] if pairs else ("", "")
    subjects = header_values(msg, "Subject")
    ids = header_values(msg, "Message-ID")
    match = re.search(r"<[^<>\s]+>", ids[0]) if ids else None
    return ParsedMail(
        msg=msg,
        sender=address.strip().lower() if "@" in address else "",
        sender_name=name.strip(),
        subject=subjects[0][:500] if subjects else "",
        message_id=match.group(0)[:500] if match else None,
        text=body_text(msg),
        defects=sorted(set(defects)),
    )


_HEADER_LINE = re.compile(rb"^(From |[\x21-\x39\x3b-\x7e]+:)")
_KNOWN_HEADERS = ("from", "to", "subject", "message-id", "date", "received", "return-path")


def not_a_message(raw: bytes) -> str | None:
    """Why `raw` is not an email message (None: it looks like one): a command given a file
    says so in one line instead of storing and answering garbage. Reads the start only, and
    copies no more than that: a message of any size costs the same."""
    start = raw[:_HEAD_SCAN]
    if not start.strip() and not raw[_HEAD_SCAN:].strip():
        return "the file is empty, not an email message"
    if start.startswith(b"%PDF"):
        return "a PDF, not an email message (`comms extract` reads a certificate PDF)"
    first = start.lstrip(b"\r\n").split(b"\n", 1)[0]
    if not _HEADER_LINE.match(first):
        return "not an email message: an .eml file starts with headers such as From: and Subject:"
    head = start.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    names = {
        line.split(b":", 1)[0].strip().lower().decode("ascii", "replace")
        for line in head.splitlines()
        if b":" in line and not line[:1].isspace()
    }
    if not names & set(_KNOWN_HEADERS):
        return "not an email message: no From, To, Subject, Message-ID or Date header"
    return None
