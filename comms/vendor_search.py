"""Find vendors by vendor ID, email, phone or the start of their name: each through its
own index (`ix_vendor_vendor_code`, `ix_vendor_email`, `ix_vendor_phone`,
`ix_vendor_name_lower`), never a scan, so a search costs the same at a million vendors."""

from __future__ import annotations

import contextlib

from sqlalchemy import Table, func, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel

from comms.roster.values import parse_phone

LIMIT = 25
PAST = "\U0010ffff"  # sorts after every character: `prefix <= name < prefix + PAST`


def _vendor() -> Table:
    return SQLModel.metadata.tables["vendor"]


def search_condition(q: str, *, region: str = "US") -> ColumnElement[bool]:
    """The same match as `search_vendors` as one condition, for a query that pages and counts
    (the vendor list): vendor ID or phone equal to `q`, an email or a lower-cased name starting
    with it; each term a lookup or a range of its own index."""
    v, text = _vendor(), q.strip()
    prefix = text.lower()
    lowered = func.lower(v.c.name)
    terms: list[ColumnElement[bool]] = [
        v.c.vendor_code == text,
        (lowered >= prefix) & (lowered < prefix + PAST),
    ]
    if "@" in text:
        terms.append((v.c.email >= prefix) & (v.c.email < prefix + PAST))
    with contextlib.suppress(ValueError):
        terms.append(v.c.phone == parse_phone(text, region))
    return or_(*terms)


def search_vendors(
    session: Session, q: str, *, region: str = "US", limit: int = LIMIT
) -> list[tuple[int, str]]:
    """(id, name) of the vendors whose vendor ID, email or phone is `q`, or whose name
    starts with it (ignoring case); those by name in name order, at most `limit`."""
    v, conn = _vendor(), session.connection()
    text = q.strip()
    if not text:
        return []
    found: dict[int, str] = {}
    exact = [v.c.vendor_code == text]
    if "@" in text:
        exact.append(v.c.email == text)
    with contextlib.suppress(ValueError):
        exact.append(v.c.phone == parse_phone(text, region))
    for condition in exact:
        for vid, name in conn.execute(select(v.c.id, v.c.name).where(condition).limit(limit)):
            found.setdefault(vid, name)
    prefix = text.lower()
    lowered = func.lower(v.c.name)
    for vid, name in conn.execute(
        select(v.c.id, v.c.name)
        .where(lowered >= prefix, lowered < prefix + PAST)
        .order_by(lowered)
        .limit(limit)
    ):
        found.setdefault(vid, name)
    return list(found.items())[:limit]
