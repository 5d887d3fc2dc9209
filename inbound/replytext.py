"""The new text of a reply, without quoted history or signature.

Quoted history is removed by mail-parser-reply (a maintained library); the
signature is cut at the RFC 3676 delimiter ("-- ") or a bare "--" line.
"""

from __future__ import annotations

import re

from mailparser_reply import EmailReplyParser

_SIGNATURE = re.compile(r"^--\s*$", re.MULTILINE)
_LANGUAGES = ["en", "de", "fr", "es", "it", "nl"]


def new_text(body: str, *, limit: int = 2000) -> str:
    """Return the reply's own words, at most ``limit`` characters."""
    try:
        text = EmailReplyParser(languages=_LANGUAGES).parse_reply(text=body)
    except Exception:  # the library must never take a message down
        text = body
    match = _SIGNATURE.search(text)
    if match:
        text = text[: match.start()]
    return text.strip()[:limit]
