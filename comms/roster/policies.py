"""Write the roster's policies, each under its vendor's accepted roster certificate.

Policies are matched by vendor, coverage and policy number: a match whose values differ is
updated, the others are inserted with one executemany. A policy on several rows is written
once, with its last row's values (so importing such a file again changes nothing). The insert
rows are assembled column by column (vendor ids, certificate ids, stored terms) with map and
zip, and each distinct `Terms` is put in storage form once.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import compress
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, SQLModel, col

from comms.models import Certificate, Policy
from comms.roster.bulk import BulkInsert, update_by_id
from comms.roster.rows import Party, Terms, ValidRows

PAGE = 500  # vendor ids per IN list
PolicyKey = tuple[int, str, str]  # vendor id, coverage, policy number ("" when none)

# Compared with what is on file; label, insurer and NAIC come from the row, the rest from Terms.
_POLICY_FIELDS = (
    "label",
    "insurer",
    "naic",
    "effective_date",
    "expiration_date",
    "limits",
    "additional_insured",
    "subrogation_waived",
    "occurrence",
)
# The row's own values first, then those of its shared Terms (see _stored_terms).
_INSERT_COLUMNS = (
    "certificate_id",
    "vendor_id",
    "policy_number",
    "label",
    "insurer",
    "naic",
    "coverage",
    "effective_date",
    "expiration_date",
    "limits",
    "additional_insured",
    "subrogation_waived",
    "occurrence",
    "created_at",
    "updated_at",
)


def _pages(ids: Iterable[int]) -> Iterator[list[int]]:
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), PAGE):
        yield ordered[i : i + PAGE]


def _roster_certificates(session: Session, vendor_ids: Iterable[int]) -> dict[int, int]:
    """vendor id → id of its (first) accepted roster certificate, for the named vendors."""
    certs: dict[int, int] = {}
    for page in _pages(vendor_ids):
        # By vendor id alone (its index), source and status checked here: a planner that
        # prefers the status index would read every accepted certificate for each page.
        for cid, vid, source, status in (
            session.connection()
            .execute(
                select(
                    col(Certificate.id),
                    col(Certificate.vendor_id),
                    col(Certificate.source),
                    col(Certificate.status),
                )
                .where(col(Certificate.vendor_id).in_(page))
                .order_by(col(Certificate.id))
            )
            .all()
        ):
            if cid is not None and source == "roster" and status == "accepted":
                certs.setdefault(vid, cid)
    return certs


def _ensure_certificates(
    session: Session, vendor_ids: Iterable[int], *, now: datetime, source: str
) -> dict[int, int]:
    """Give every vendor in `vendor_ids` an accepted roster certificate; vendor id → its id."""
    wanted = set(vendor_ids)
    certs = _roster_certificates(session, wanted)
    need = sorted(wanted - set(certs))
    if need:
        bulk = BulkInsert(
            session.connection(),
            SQLModel.metadata.tables["certificate"],
            (
                "vendor_id",
                "source",
                "reference",
                "received_at",
                "status",
                "extraction",
                "doubtful_fields",
                "created_at",
            ),
        )
        stamp = bulk.store("created_at", now)
        extraction = bulk.store("extraction", {})
        doubtful = bulk.store("doubtful_fields", [])
        bulk.run(
            [
                (vid, "roster", source, stamp, "accepted", extraction, doubtful, stamp)
                for vid in need
            ]
        )
        certs = _roster_certificates(session, wanted)
    return certs


def _policies_on_file(
    session: Session, vendor_ids: Iterable[int]
) -> dict[PolicyKey, dict[str, Any]]:
    """The named vendors' policies on file, by vendor, coverage and policy number."""
    columns = [Policy.id, Policy.vendor_id, Policy.coverage, Policy.policy_number] + [
        getattr(Policy, f) for f in _POLICY_FIELDS
    ]
    existing: dict[PolicyKey, dict[str, Any]] = {}
    for page in _pages(vendor_ids):
        query = select(*columns).where(col(Policy.vendor_id).in_(page))
        for rec in session.connection().execute(query).mappings().all():
            data = dict(rec)
            existing[(data["vendor_id"], data["coverage"], data["policy_number"] or "")] = data
    return existing


def _changes(
    existing: dict[PolicyKey, dict[str, Any]],
    rows: Iterable[tuple[PolicyKey, Terms, str | None, str | None, str | None]],
    *,
    now: datetime,
) -> list[dict[str, Any]]:
    """UPDATE parameters for the rows whose policy is on file with other values."""
    updates: list[dict[str, Any]] = []
    for key, terms, label, insurer, naic in rows:
        have = existing[key]
        values = (
            label,
            insurer,
            naic,
            terms.effective_date,
            terms.expiration_date,
            terms.limits,
            terms.additional_insured,
            terms.subrogation_waived,
            terms.occurrence,
        )
        change = {f: v for f, v in zip(_POLICY_FIELDS, values, strict=True) if have[f] != v}
        if change:
            updates.append({"id": have["id"], **change, "updated_at": now})
            have.update(change)
    return updates


def _stored_terms(bulk: BulkInsert, terms: Terms, stamp: Any) -> tuple[Any, ...]:
    store = bulk.store
    return (
        terms.coverage,
        store("effective_date", terms.effective_date),
        store("expiration_date", terms.expiration_date),
        store("limits", terms.limits),
        terms.additional_insured,
        terms.subrogation_waived,
        terms.occurrence,
        stamp,
        stamp,
    )


def _select(columns: Sequence[list[Any]], keep: list[bool]) -> list[list[Any]]:
    return [list(compress(column, keep)) for column in columns]


def upsert_policies(
    session: Session,
    rows: ValidRows,
    vendor_of: dict[Party, int],
    *,
    now: datetime,
    source: str,
) -> tuple[int, int]:
    """Insert or update the rows' policies; return how many were created and updated."""
    coverages = list(map(operator.attrgetter("coverage"), rows.terms))
    columns: list[list[Any]] = [rows.parties, rows.terms, rows.policy_numbers, rows.labels]
    columns += [rows.insurers, rows.naics, coverages]
    if None in coverages:  # rows that only register a vendor
        columns = _select(columns, [c is not None for c in coverages])
    if not columns[0]:
        return 0, 0
    columns[0] = list(map(vendor_of.__getitem__, columns[0]))  # parties → vendor ids
    vendor_ids, terms, numbers, labels, insurers, naics, coverages = columns
    keys: list[PolicyKey] = []
    # Every row is a policy of its own unless policy numbers are blank or repeat.
    if None in numbers or len(set(numbers)) < len(numbers):
        keys = list(zip(vendor_ids, coverages, [n or "" for n in numbers], strict=True))
        last = list(dict(zip(keys, range(len(keys)), strict=True)).values())
        if len(last) < len(keys):  # a policy on several rows: its last row, in its first's place
            keys = list(map(keys.__getitem__, last))
            columns = [list(map(column.__getitem__, last)) for column in columns]
            vendor_ids, terms, numbers, labels, insurers, naics, coverages = columns
    certs = _ensure_certificates(session, vendor_ids, now=now, source=source)
    updates: list[dict[str, Any]] = []
    existing = _policies_on_file(session, vendor_ids)
    if existing:
        keys = keys or list(zip(vendor_ids, coverages, numbers, strict=True))
        on_file = list(map(existing.__contains__, keys))
        if any(on_file):
            matched = _select([keys, terms, labels, insurers, naics], on_file)
            updates = _changes(existing, zip(*matched, strict=True), now=now)
            vendor_ids, terms, numbers, labels, insurers, naics = _select(
                [vendor_ids, terms, numbers, labels, insurers, naics], [not f for f in on_file]
            )
    bulk = BulkInsert(session.connection(), SQLModel.metadata.tables["policy"], _INSERT_COLUMNS)
    stamp = bulk.store("created_at", now)
    stored = {t: _stored_terms(bulk, t, stamp) for t in dict.fromkeys(terms)}
    inserts = list(
        zip(
            map(certs.__getitem__, vendor_ids),
            vendor_ids,
            numbers,
            labels,
            insurers,
            naics,
            *zip(*map(stored.__getitem__, terms), strict=True),
            strict=True,
        )
    )
    bulk.run(inserts)
    update_by_id(session, Policy, updates)
    return len(inserts), len(updates)
