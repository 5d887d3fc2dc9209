"""Classify an inbound message: bounce, auto-reply or reply.

Bounces are detected with flufl.bounce, with `inbound.dsn` as a second opinion for the
bounces written in prose that it misses; auto-replies from the RFC 3834
``Auto-Submitted`` header, ``X-Autoreply``/``X-Autorespond`` and ``Precedence``,
with an out-of-office subject heuristic for the ones that carry none of these.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from typing import Literal

from flufl.bounce import all_failures

from inbound.attachments import is_document
from inbound.dsn import prose_bounce
from inbound.parse import header_values

Kind = Literal["bounce", "auto_reply", "reply"]

_OOO_SUBJECT = re.compile(
    r"\b(out of (the )?office|automatic reply|auto(matic)?[- ]?reply|autoreply|"
    r"on vacation|away from (the )?office|abwesenheit|absence|r[ée]ponse automatique)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Classification:
    kind: Kind
    reason: str
    permanent_failures: frozenset[str] = field(default_factory=frozenset)
    temporary_failures: frozenset[str] = field(default_factory=frozenset)


def _addresses(values: Iterable[bytes | str]) -> frozenset[str]:
    out: set[str] = set()
    for value in values:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        out.add(text.strip().lower())
    return frozenset(a for a in out if a)


_OOO_BODY = re.compile(
    r"\b(i am|i'm|i will be|i'll be|i am currently|i'm currently) (currently )?"
    r"(out of (the )?office|away from (the|my) (office|desk)|on (vacation|leave|holiday)|"
    r"travell?ing with limited access)|"
    r"\b(limited|no) access to (my )?e-?mail\b|"
    r"\bthis is an automatic(ally generated)? (reply|response|message)\b",
    re.IGNORECASE,
)
_OOO_BODY_CHARS = 600


def auto_reply_reason(msg: Message, text: str | None = None) -> str | None:
    """Why this message is an automatic reply, or None. ``text``: its body, for the
    out-of-office wording of auto-replies that carry no header and keep the subject."""
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto.split(';')[0]}"
    for name in ("X-Autoreply", "X-Autorespond"):
        if msg.get(name) is not None:
            return f"{name} header"
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if precedence in {"auto_reply", "bulk", "junk", "list"}:
        return f"Precedence: {precedence}"
    subject = " ".join(header_values(msg, "Subject"))
    if _OOO_SUBJECT.search(subject):
        return "out-of-office subject"
    if text and _OOO_BODY.search(text[:_OOO_BODY_CHARS]) and not _has_document(msg):
        return "out-of-office text"
    return None


def _has_document(msg: Message) -> bool:
    return any(not p.is_multipart() and is_document(p) for p in msg.walk())


def classify(msg: Message, text: str | None = None) -> Classification:
    """Decide what kind of message ``msg`` (body ``text``) is (never raises on odd input)."""
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector choking on hostile MIME is not a bounce
        temporary, permanent = frozenset(), frozenset()
    if not (permanent or temporary):
        prose = prose_bounce(msg)
        if prose is not None:
            return Classification(
                "bounce", "bounce notice (no standard report)", prose.permanent, prose.temporary
            )
    if permanent or temporary:
        return Classification(
            "bounce",
            "delivery status notification",
            _addresses(permanent),
            _addresses(temporary),
        )
    reason = auto_reply_reason(msg, text)
    if reason is not None:
        return Classification("auto_reply", reason)
    return Classification("reply", "human reply")
