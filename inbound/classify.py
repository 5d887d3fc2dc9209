"""Classify an inbound message: bounce, auto-reply or reply.

Bounces are detected with flufl.bounce, with `inbound.dsn` as a second opinion for the
bounces written in prose that it misses; auto-replies from the RFC 3834
``Auto-Submitted`` header, ``X-Autoreply``/``X-Autorespond`` and ``Precedence``,
with an out-of-office subject heuristic for the ones that carry none of these.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from typing import Literal

from flufl.bounce import all_failures

from inbound.attachments import is_document
from inbound.dsn import prose_bounce as find_prose_bounce
from inbound.parse import header_values

Kind = Literal["bounce", "auto_reply", "reply"]


class _OneLine(logging.Filter):
    """flufl.bounce logs a whole traceback (on stderr, without a handler of ours) for each
    detector that chokes on malformed mail: keep one line, and drop its "Running detector"
    chatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            detail = str(exc).splitlines()[0][:200] if str(exc) else ""
            record.msg = f"{record.getMessage()}: {type(exc).__name__}: {detail}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


_FLUFL_LOG = logging.getLogger("flufl.bounce")
_FLUFL_LOG.addFilter(_OneLine())
_FLUFL_LOG.setLevel(logging.WARNING)

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
    classifier: str = ""  # the registered name of the classifier that answered


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


# --- the classifiers, in order -------------------------------------------------------------
# Each is one small unit with its registered name: it answers a Classification (naming
# itself) or None, and the first that answers wins. `inbound.pipeline` pairs each kind with
# its handler. A new classifier is a function here and its place in CLASSIFIERS.


def standard_bounce(msg: Message, text: str | None) -> Classification | None:
    """A delivery status notification flufl.bounce can read."""
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector choking on hostile MIME is not a bounce
        return None
    if not (permanent or temporary):
        return None
    return Classification(
        "bounce",
        "delivery status notification",
        _addresses(permanent),
        _addresses(temporary),
        classifier="standard_bounce",
    )


def prose_bounce(msg: Message, text: str | None) -> Classification | None:
    """A bounce written in prose, with no standard report (`inbound.dsn`)."""
    found = find_prose_bounce(msg)
    if found is None:
        return None
    return Classification(
        "bounce",
        "bounce notice (no standard report)",
        found.permanent,
        found.temporary,
        classifier="prose_bounce",
    )


def auto_reply(msg: Message, text: str | None) -> Classification | None:
    """An automatic reply (headers, then the out-of-office wording)."""
    reason = auto_reply_reason(msg, text)
    return None if reason is None else Classification("auto_reply", reason, classifier="auto_reply")


def human_reply(msg: Message, text: str | None) -> Classification | None:
    """Whatever is left: a person's reply."""
    return Classification("reply", "human reply", classifier="human_reply")


Classifier = Callable[[Message, str | None], Classification | None]
CLASSIFIERS: tuple[Classifier, ...] = (standard_bounce, prose_bounce, auto_reply, human_reply)


def classify(msg: Message, text: str | None = None) -> Classification:
    """Decide what kind of message ``msg`` (body ``text``) is (never raises on odd input): the
    answer of the first of CLASSIFIERS that answers."""
    for classifier in CLASSIFIERS:
        found = classifier(msg, text)
        if found is not None:
            return found
    raise AssertionError("human_reply answers every message")
