"""Write validated roster rows: agents and vendors here, then certificates and policies.

Vendors are matched by email, else name (a row without the email is the vendor of that name
that has one in the file, when just one does; rows where the name is several vendors' are
refused before writing, `comms.roster.ambiguity`); agents likewise (policies: see
policies.py). What is on file is read with one query per table, and unchanged rows write
nothing, so importing the same file twice changes nothing. New rows go in with one prepared
executemany per table; agents and vendors are worked out once per distinct `Party`, not once
per row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, SQLModel, col

from comms.models import Agent, Vendor
from comms.roster.bulk import BulkInsert, update_by_id
from comms.roster.policies import upsert_policies
from comms.roster.result import ImportResult
from comms.roster.rows import Party, ValidRows


def match_key(email: str | None, name: str | None) -> str:
    return f"e:{email.lower()}" if email else f"n:{(name or '').strip().lower()}"


def write_rows(
    session: Session,
    rows: ValidRows,
    profile_ids: dict[str, int],
    *,
    now: datetime,
    source: str,
    result: ImportResult,
) -> set[int]:
    """Write the rows; return the ids of the vendors they name (whose verdicts may change)."""
    parties = list(dict.fromkeys(rows.parties))
    agents = _upsert_agents(session, parties, now=now, result=result)
    vendor_of = _upsert_vendors(session, parties, profile_ids, agents, now=now, result=result)
    created, updated = upsert_policies(session, rows, vendor_of, now=now, source=source)
    result.policies_created, result.policies_updated = created, updated
    return set(vendor_of.values())


def _agents_on_file(session: Session) -> list[tuple[int, str | None, str]]:
    query = select(col(Agent.id), col(Agent.email), col(Agent.name)).order_by(col(Agent.id))
    rows = session.connection().execute(query).all()
    return [(aid, email, name) for aid, email, name in rows if aid is not None]


_AGENT_INSERT_COLUMNS = (
    "name",
    "email",
    "phone",
    "agency",
    "email_invalid",
    "phone_invalid",
    "created_at",
    "updated_at",
)


def _upsert_agents(
    session: Session, parties: list[Party], *, now: datetime, result: ImportResult
) -> dict[str, int]:
    """Insert the agents not on file; return agent key → id."""
    on_file = _agents_on_file(session)
    ids: dict[str, int] = {}
    for aid, email, name in on_file:
        ids.setdefault(match_key(email, name), aid)
        ids.setdefault(match_key(None, name), aid)
    wanted: dict[str, tuple[Any, ...]] = {}
    for party in parties:
        if not (party.agent_name or party.agent_email):
            continue
        key = match_key(party.agent_email, party.agent_name)
        if key in ids or key in wanted:
            continue
        name = party.agent_name or party.agent_email or ""
        wanted[key] = (name, party.agent_email, party.agent_phone, party.agency)
    same = _same_as_emailed(wanted)
    for key in same:
        del wanted[key]
    if wanted:
        bulk = BulkInsert(
            session.connection(),
            SQLModel.metadata.tables["agent"],
            _AGENT_INSERT_COLUMNS,
        )
        stamp = bulk.store("created_at", now)
        bulk.run([(*values, False, False, stamp, stamp) for values in wanted.values()])
        known = {aid for aid, _, _ in on_file}
        for aid, email, name in _agents_on_file(session):
            if aid not in known:  # new: its key is exactly the one it was wanted under
                ids[match_key(email, name)] = aid
        result.agents_created = len(wanted)
    ids.update((key, ids[owner]) for key, owner in same.items())
    return ids


_VENDOR_FIELDS = (
    "name",
    "email",
    "phone",
    "contact_name",
    "timezone",
    "language",
    "profile_id",
    "agent_id",
    "project",
)
_VENDOR_INSERT_COLUMNS = (
    *_VENDOR_FIELDS,
    "vendor_code",
    "opt_out_email",
    "opt_out_sms",
    "opt_out_call",
    "email_invalid",
    "phone_invalid",
    "active",
    "created_at",
    "updated_at",
)


def _vendor_values(party: Party, profile_ids: dict[str, int], agents: dict[str, int]) -> list[Any]:
    """The party's vendor, in _VENDOR_FIELDS order."""
    has_agent = party.agent_email or party.agent_name
    return [
        party.vendor_name,
        party.vendor_email,
        party.vendor_phone,
        party.vendor_contact,
        party.vendor_timezone,
        party.vendor_language,
        profile_ids.get(party.profile) if party.profile else None,
        agents.get(match_key(party.agent_email, party.agent_name)) if has_agent else None,
        party.project,
    ]


def _upsert_vendors(
    session: Session,
    parties: list[Party],
    profile_ids: dict[str, int],
    agents: dict[str, int],
    *,
    now: datetime,
    result: ImportResult,
) -> dict[Party, int]:
    """Insert or update the parties' vendors; return each party's vendor id. A vendor on
    several parties takes, field by field, the first value they give."""
    current: dict[int, dict[str, Any]] = {}
    by_key: dict[str, int] = {}
    columns = [getattr(Vendor, f) for f in ("id", *_VENDOR_FIELDS)]
    for rec in session.connection().execute(select(*columns)).mappings().all():
        data = dict(rec)
        current[data["id"]] = data
        if data["email"]:
            by_key.setdefault(match_key(data["email"], None), data["id"])
        by_key.setdefault(match_key(None, data["name"]), data["id"])
    incoming: dict[str, list[Any]] = {}
    key_of: dict[Party, str] = {}
    for party in parties:
        key = key_of[party] = match_key(party.vendor_email, party.vendor_name)
        values = _vendor_values(party, profile_ids, agents)
        target = incoming.get(key)
        if target is None:
            incoming[key] = values
            continue
        _fill(target, values)
    _fold_rows_without_email(incoming, key_of)
    resolved: dict[str, int] = {}
    new: list[tuple[str, list[Any]]] = []
    updates: list[dict[str, Any]] = []
    for key, values in incoming.items():
        vid = by_key.get(key) or (by_key.get(match_key(None, values[0])) if not values[1] else None)
        if vid is None:
            new.append((key, values))
            continue
        resolved[key] = vid
        have = current[vid]
        change = {
            f: v
            for f, v in zip(_VENDOR_FIELDS, values, strict=True)
            if v is not None and have[f] != v
        }
        if change:
            updates.append({"id": vid, **change, "updated_at": now})
    if updates:
        update_by_id(session, Vendor, updates)
        result.vendors_updated = len(updates)
    if new:
        resolved.update(_insert_vendors(session, new, now=now))
        result.vendors_created = len(new)
    return {party: resolved[key] for party, key in key_of.items()}


def _fill(target: list[Any], values: list[Any]) -> None:
    """Field by field, the first value given wins."""
    for i, value in enumerate(values):
        if target[i] is None:
            target[i] = value


def _same_as_emailed(rows: Mapping[str, Sequence[Any]]) -> dict[str, str]:
    """Rows (by key; values name, email, …) that give a name but no email, each to the key of
    the row of that name that gives an email, when just one does: two emails make two parties
    of one name, and such a row cannot say which it is."""
    with_email: dict[str, list[str]] = {}
    for key, values in rows.items():
        if values[1]:
            with_email.setdefault(match_key(None, values[0]), []).append(key)
    return {key: owners[0] for key in rows if len(owners := with_email.get(key, [])) == 1}


def _fold_rows_without_email(incoming: dict[str, list[Any]], key_of: dict[Party, str]) -> None:
    """A vendor's rows without its email join its rows with it (`_same_as_emailed`), their
    values filling what those left blank."""
    moved = _same_as_emailed(incoming)
    for key, owner in moved.items():
        _fill(incoming[owner], incoming.pop(key))
    if moved:
        for party, key in key_of.items():
            key_of[party] = moved.get(key, key)


def _insert_vendors(
    session: Session, new: list[tuple[str, list[Any]]], *, now: datetime
) -> dict[str, int]:
    """Insert new vendors, each with the next free numeric vendor code; return key → id."""
    bulk = BulkInsert(
        session.connection(), SQLModel.metadata.tables["vendor"], _VENDOR_INSERT_COLUMNS
    )
    stamp = bulk.store("created_at", now)
    first_code = _next_vendor_code(session)
    language = _VENDOR_FIELDS.index("language")
    payload: list[tuple[Any, ...]] = []
    codes: dict[str, str] = {}
    for offset, (key, values) in enumerate(new):
        code = str(first_code + offset)
        codes[code] = key
        values[language] = values[language] or "en"
        payload.append((*values, code, False, False, False, False, False, True, stamp, stamp))
    bulk.run(payload)
    ids: dict[str, int] = {}
    query = select(col(Vendor.id), col(Vendor.vendor_code))
    for vid, stored in session.connection().execute(query).all():
        if stored in codes and vid is not None:
            ids[codes[stored]] = vid
    return ids


def _next_vendor_code(session: Session) -> int:
    codes = (
        session.connection()
        .scalars(select(col(Vendor.vendor_code)).where(col(Vendor.vendor_code).is_not(None)))
        .all()
    )
    numeric = [int(c) for c in codes if c and c.isdigit()]
    return max([100000, *numeric]) + 1
