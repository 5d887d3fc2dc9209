"""A second opinion on bounces, for the non-standard ones a DSN detector misses.

Some servers send bounces that name the failed address only in prose ("Delivery has failed to
these recipients", "Sorry, we were unable to deliver your message to the following address").
A message is taken as such a bounce when it comes from a mailer daemon or postmaster, or is a
`multipart/report`, and its subject or notice says delivery failed. The failed addresses are
read from the notice only (never from the returned copy of our own message), and a failure is
permanent when the notice carries a 5xx reply or a 5.x.x status code, temporary on 4xx.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses

from inbound.parse import header_values, part_text

_DAEMON = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon|bounces?)@", re.I)
_SUBJECT = re.compile(
    r"(undeliver|delivery (status notification|failure|has failed|failed)|failure notice|"
    r"returned mail|mail delivery (failed|system)|could not be delivered|non.?delivery|"
    r"nicht zustellbar|unzustellbar|non remis|no entregado)",
    re.I,
)
_NOTICE = re.compile(
    r"(delivery has failed|unable to deliver|could not be delivered|undeliverable|"
    r"permanent(ly)? (error|failure)|user unknown|no such user|does not exist|"
    r"address (wasn.t|was not) found|recipient not found|mailbox unavailable)",
    re.I,
)
_CUT = re.compile(
    r"^\s*-*\s*(below this line is a copy|original message|this is a copy of the message|"
    r"the original message was received|----- ?original|returned message|"
    r"content of the original)",
    re.I | re.M,
)
_ADDRESS = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PERMANENT = re.compile(r"\b(5\d\d\b|5\.\d{1,3}\.\d{1,3})")
_TEMPORARY = re.compile(r"\b(4\d\d\b|4\.\d{1,3}\.\d{1,3})")


@dataclass(frozen=True)
class ProseBounce:
    permanent: frozenset[str]
    temporary: frozenset[str]


def _notice(msg: Message) -> str:
    """The text of the bounce notice, up to the returned copy of the original message."""
    for part in msg.walk():
        if part.get_content_type() == "message/rfc822":
            break
        if part.is_multipart() or part.get_content_type() not in ("text/plain", "text/html"):
            continue
        text = part_text(part)[:100_000]
        cut = _CUT.search(text)
        return text[: cut.start()] if cut else text
    return ""


def _own_addresses(msg: Message) -> set[str]:
    values = header_values(msg, "From") + header_values(msg, "To") + header_values(msg, "Cc")
    return {a.lower() for _, a in getaddresses(values) if a}


def prose_bounce(msg: Message) -> ProseBounce | None:
    """The failed addresses of a prose bounce, or None when ``msg`` is not one."""
    senders = [a for _, a in getaddresses(header_values(msg, "From"))]
    from_daemon = any(_DAEMON.match(a.strip()) for a in senders)
    is_report = msg.get_content_type() == "multipart/report"
    subject = " ".join(header_values(msg, "Subject"))
    notice = _notice(msg)
    if not (from_daemon or is_report):
        return None
    if not (_SUBJECT.search(subject) or _NOTICE.search(notice)):
        return None
    own = _own_addresses(msg)
    found = [
        a.lower().rstrip(".")
        for a in _ADDRESS.findall(notice)
        if a.lower() not in own and not _DAEMON.match(a)
    ]
    addresses = frozenset(found)
    if _PERMANENT.search(notice) or _NOTICE.search(notice):
        return ProseBounce(addresses, frozenset())
    if _TEMPORARY.search(notice):
        return ProseBounce(frozenset(), addresses)
    return ProseBounce(frozenset(), addresses)
