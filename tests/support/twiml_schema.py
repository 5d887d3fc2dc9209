"""Every TwiML document the app answers is checked against telephony/twiml.xsd (lxml)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

import telephony

SCHEMA = Path(telephony.__file__).resolve().parent / "twiml.xsd"


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


def validate(body: str) -> None:
    """Raise ValueError naming the first rule the document breaks."""
    try:
        document = etree.fromstring(body.encode("utf-8"))
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not XML: {exc}") from None
    schema = _schema()
    if not schema.validate(document):
        error = schema.error_log.last_error
        raise ValueError(f"TwiML schema: line {error.line}: {error.message}")
