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

from inbound.dsn import prose_bounce

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


def auto_reply_reason(msg: Message) -> str | None:
    """Why this message is an automatic reply, or None."""
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto.split(';')[0]}"
    for name in ("X-Autoreply", "X-Autorespond"):
        if msg.get(name) is not None:
            return f"{name} header"
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if precedence in {"auto_reply", "bulk", "junk", "list"}:
        return f"Precedence: {precedence}"
    subject = str(msg.get("Subject", ""))
    if _OOO_SUBJECT.search(subject):
        return "out-of-office subject"
    return None


def classify(msg: Message) -> Classification:
    """Decide what kind of message ``msg`` is (never raises on odd input)."""
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
    reason = auto_reply_reason(msg)
    if reason is not None:
        return Classification("auto_reply", reason)
    return Classification("reply", "human reply")
