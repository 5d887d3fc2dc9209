"""Build the RFC 5322 message of an email delivery: headers, text part, HTML part."""

from __future__ import annotations

import binascii
import hashlib
import re
from datetime import datetime
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, getaddresses, parseaddr
from functools import lru_cache

from comms.models import Delivery
from comms.settings import Settings
from comms.tokens import make_token, reply_address


def message_id_of(delivery: Delivery, settings: Settings) -> str:
    return delivery.message_id or f"<coi.{delivery.id}@{settings.reply_domain}>"


def reply_to_of(delivery: Delivery, settings: Settings) -> str:
    stored = (delivery.content or {}).get("reply_to")
    if stored:
        return str(stored)
    token = delivery.reply_token or make_token(
        delivery.case_id or 0, delivery.id or 0, settings.signing_key()
    )
    return reply_address(token, local_part=settings.reply_local_part, domain=settings.reply_domain)


def cc_of(delivery: Delivery) -> list[str]:
    return [str(a) for a in (delivery.content or {}).get("cc") or [] if a]


def envelope_sender(settings: Settings) -> str:
    return _bare(settings.mail_from)


@lru_cache(maxsize=64)
def _bare(value: str) -> str:
    return parseaddr(value)[1]


def references_of(delivery: Delivery) -> str:
    """The References header of an answer: the thread recorded on the row (oldest first),
    ending with the message it answers."""
    thread = [str(i) for i in (delivery.content or {}).get("references") or []]
    parent = delivery.in_reply_to or ""
    ids = [*thread, parent] if parent and (not thread or thread[-1] != parent) else thread
    return " ".join(_clean(i) for i in ids if i)


def recipients_of(delivery: Delivery) -> list[str]:
    return [delivery.recipient, *cc_of(delivery)]


def build_message(delivery: Delivery, settings: Settings) -> EmailMessage:
    """The message with every header the project promises (stable across retries)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = settings.mail_from
    msg["To"] = delivery.recipient
    cc = cc_of(delivery)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = delivery.subject or ""
    msg["Date"] = format_datetime(delivery.created_at)
    msg["Message-ID"] = message_id_of(delivery, settings)
    msg["Reply-To"] = reply_to_of(delivery, settings)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    if delivery.in_reply_to:
        msg["In-Reply-To"] = delivery.in_reply_to
        msg["References"] = references_of(delivery)
    msg.set_content(delivery.body_text or "", subtype="plain", charset="utf-8")
    if delivery.body_html:
        msg.add_alternative(delivery.body_html, subtype="html", charset="utf-8")
    return msg


_FOLD = 76


def _clean(value: str) -> str:
    """No CR/LF may reach a header (header injection)."""
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())


def _unstructured(name: str, value: str) -> str:
    value = _clean(value)
    if not value.isascii():
        return f"{name}: " + Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    line = f"{name}:"
    lines: list[str] = []
    for word in value.split(" "):
        if len(line) + 1 + len(word) > _FOLD and line.strip() and line != f"{name}:":
            lines.append(line)
            line = " " + word
        else:
            line = f"{line} {word}"
    lines.append(line)
    return "\r\n".join(lines)


_BARE_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\Z")


def _address(name: str, value: str) -> str:
    if _BARE_ADDRESS.match(value):  # a bare ASCII addr-spec is its own header value
        return f"{name}: {value}"
    return _parsed_address(name, value)


@lru_cache(maxsize=4096)
def _parsed_address(name: str, value: str) -> str:
    parts = []
    for display, addr in getaddresses([_clean(value)]):
        if display and not display.isascii():
            parts.append(formataddr((display, addr), charset="utf-8"))
        else:
            parts.append(formataddr((display, addr)))
    return f"{name}: " + ", ".join(parts)


@lru_cache(maxsize=256)
def _date(value: datetime) -> str:
    return format_datetime(value)


def _qp(text: str) -> bytes:
    crlf = "\r\n".join(text.splitlines()) + "\r\n"
    return binascii.b2a_qp(crlf.encode("utf-8"), istext=True)


def message_bytes(delivery: Delivery, settings: Settings) -> bytes:
    """The wire bytes of a delivery: the headers of `build_message`, multipart/alternative
    with quoted-printable UTF-8 parts, CRLF line ends. Written directly, because the email
    package's generator costs more than the whole rest of a send."""
    message_id = message_id_of(delivery, settings)
    boundary = "=_coi_" + hashlib.sha256(message_id.encode()).hexdigest()[:24]
    head = [
        _address("From", settings.mail_from),
        _address("To", delivery.recipient),
    ]
    cc = cc_of(delivery)
    if cc:
        head.append(_address("Cc", ", ".join(cc)))
    head += [
        _unstructured("Subject", delivery.subject or ""),
        f"Date: {_date(delivery.created_at)}",
        f"Message-ID: {_clean(message_id)}",
        _address("Reply-To", reply_to_of(delivery, settings)),
        "Auto-Submitted: auto-generated",
        "X-Auto-Response-Suppress: All",
    ]
    if delivery.in_reply_to:
        head.append(f"In-Reply-To: {_clean(delivery.in_reply_to)}")
        head.append(_unstructured("References", references_of(delivery)))
    head.append("MIME-Version: 1.0")
    part_head = "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    text = _qp(delivery.body_text or "")
    if not delivery.body_html:
        head.append("Content-Type: text/plain; charset=utf-8")
        return ("\r\n".join(head) + "\r\n" + part_head).encode() + text
    head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    return b"".join(
        [
            ("\r\n".join(head) + "\r\n\r\n").encode(),
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n{part_head}".encode(),
            text,
            # the CRLF before a delimiter belongs to it: the part keeps its own last line end
            f"\r\n--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n{part_head}".encode(),
            _qp(delivery.body_html),
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )


def addresses(header_value: str) -> list[str]:
    return [addr for _name, addr in getaddresses([header_value]) if addr]
