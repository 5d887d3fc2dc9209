"""Write validated roster rows, a batch of vendors at a time: agents first, then the batch's
vendors, then their certificates and policies (policies.py).

Vendors are matched by email, else name (a row without the email is the vendor of that name
that has one in the file, when just one does: `Stage.fold_vendors`; rows where the name is
several vendors' are refused before writing, `comms.roster.ambiguity`); agents likewise. What
is on file is looked up by the batch's own keys, through the indexes on email and on the
lower-cased name, so memory follows the batch, not the roster; unchanged rows write nothing,
so importing the same file twice changes nothing. New rows go in with one prepared
executemany per table and batch. A vendor on several rows takes, field by field, the first
value they give (its rows with its email first).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Connection
from sqlmodel import Session, SQLModel

from comms.models import Vendor
from comms.roster.bulk import BulkInsert, update_by_id
from comms.roster.policies import upsert_policies
from comms.roster.result import ImportResult
from comms.roster.rows import Party
from comms.roster.stage import PAGE, Stage, VendorBatch, match_key

__all__ = ["VendorCodes", "match_key", "on_file", "write_agents", "write_batch"]


def on_file(
    conn: Connection, table: Table, keys: dict[str, str], columns: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """The rows of `table` (vendor or agent) that `keys` (match key → the email or name as
    given) name: key → the row (its id and `columns`) with the lowest id. An `e:` key is a
    row with that email, an `n:` key any row of that name, ignoring case. Looked up through
    the email index (the email as given and lower-cased) and the name indexes (the name as
    given, and lower-cased where the table has `ix_TABLE_name_lower`)."""
    wanted = [table.c.id, table.c.email, table.c.name, *(table.c[c] for c in columns)]
    emails = sorted({v for k, given in keys.items() if k[0] == "e" for v in (given, k[2:])})
    names = sorted({given for k, given in keys.items() if k[0] == "n"})
    lowered = sorted({k[2:] for k in keys if k[0] == "n"})
    conditions: list[tuple[Any, list[str]]] = [(table.c.email, emails), (table.c.name, names)]
    conditions.append((func.lower(table.c.name), lowered))  # agents: few, a scan
    found: dict[str, dict[str, Any]] = {}
    for column, values in conditions:
        for i in range(0, len(values), PAGE):
            query = select(*wanted).where(column.in_(values[i : i + PAGE]))
            for rec in conn.execute(query).mappings():
                row = dict(rec)
                for key in (match_key(row["email"], None), match_key(None, row["name"])):
                    if key in keys and (key not in found or found[key]["id"] > row["id"]):
                        found[key] = row
    return found


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


def write_agents(session: Session, stage: Stage, *, now: datetime, result: ImportResult) -> None:
    """Find the file's agents on file, insert the others (each with its first row's values;
    one given without an email joins the new one of that name given with one, when just one
    is), and note each agent key's id in the stage."""
    conn = session.connection()
    table = SQLModel.metadata.tables["agent"]
    stage.agent_keys()
    for page in stage.agent_pages():
        given = {akey: (email if akey[0] == "e" else name) for akey, name, email, *_ in page}
        found = on_file(conn, table, given)
        stage.set_agents([(row["id"], key) for key, row in found.items()])
    stage.fold_agents()
    bulk = BulkInsert(conn, table, _AGENT_INSERT_COLUMNS)
    stamp = bulk.store("created_at", now)
    for page in stage.agent_pages(new_only=True):
        last = conn.execute(select(func.max(table.c.id))).scalar() or 0
        bulk.run(
            [
                (name or email or "", email, phone, agency, False, False, stamp, stamp)
                for _akey, name, email, phone, agency in page
            ]
        )
        ids = conn.execute(
            select(table.c.id, table.c.email, table.c.name)
            .where(table.c.id > last)
            .order_by(table.c.id)
        ).all()
        stage.set_agents([(aid, match_key(email, name)) for aid, email, name in ids])
        result.agents_created += len(page)
    stage.agents_folded()


def write_batch(
    session: Session,
    stage: Stage,
    batch: VendorBatch,
    profile_ids: dict[str, int],
    codes: VendorCodes,
    *,
    now: datetime,
    source: str,
    result: ImportResult,
) -> set[int]:
    """Write a batch of vendors and their policies; return the vendors' ids (whose verdicts
    may change)."""
    rows = batch.rows
    agent_keys = sorted(
        {
            match_key(p.agent_email, p.agent_name)
            for p in rows.parties
            if p.agent_name or p.agent_email
        }
    )
    agents = stage.agent_ids(agent_keys)
    vendor_ids = _upsert_vendors(session, batch, profile_ids, agents, codes, now=now, result=result)
    vendor_of: dict[Party, int] = {}
    for key, indexes in batch.groups.items():
        for i in indexes:
            vendor_of[rows.parties[i]] = vendor_ids[key]
    created, updated = upsert_policies(session, rows, vendor_of, now=now, source=source)
    result.policies_created += created
    result.policies_updated += updated
    return set(vendor_ids.values())


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
    batch: VendorBatch,
    profile_ids: dict[str, int],
    agents: dict[str, int],
    codes: VendorCodes,
    *,
    now: datetime,
    result: ImportResult,
) -> dict[str, int]:
    """Insert or update the batch's vendors; return each vendor key's id."""
    rows = batch.rows
    incoming: dict[str, list[Any]] = {}
    for key, indexes in batch.groups.items():
        values: list[Any] | None = None
        for i in indexes:
            row_values = _vendor_values(rows.parties[i], profile_ids, agents)
            if values is None:
                values = row_values
            else:
                _fill(values, row_values)
        assert values is not None
        incoming[key] = values
    given = {key: (values[1] if key[0] == "e" else values[0]) for key, values in incoming.items()}
    table = SQLModel.metadata.tables["vendor"]
    current = on_file(session.connection(), table, given, _VENDOR_FIELDS)
    resolved: dict[str, int] = {}
    new: list[tuple[str, list[Any]]] = []
    updates: list[dict[str, Any]] = []
    for key, values in incoming.items():
        have = current.get(key)
        if have is None:
            new.append((key, values))
            continue
        resolved[key] = have["id"]
        change = {
            f: v
            for f, v in zip(_VENDOR_FIELDS, values, strict=True)
            if v is not None and have[f] != v
        }
        if change:
            updates.append({"id": have["id"], **change, "updated_at": now})
    if updates:
        update_by_id(session, Vendor, updates)
        result.vendors_updated += len(updates)
    if new:
        resolved.update(_insert_vendors(session, new, codes, now=now))
        result.vendors_created += len(new)
    return resolved


def _fill(target: list[Any], values: list[Any]) -> None:
    """Field by field, the first value given wins."""
    for i, value in enumerate(values):
        if target[i] is None:
            target[i] = value


def _insert_vendors(
    session: Session, new: list[tuple[str, list[Any]]], codes: VendorCodes, *, now: datetime
) -> dict[str, int]:
    """Insert new vendors, each with the next free numeric vendor code; return key → id."""
    conn = session.connection()
    table = SQLModel.metadata.tables["vendor"]
    bulk = BulkInsert(conn, table, _VENDOR_INSERT_COLUMNS)
    stamp = bulk.store("created_at", now)
    language = _VENDOR_FIELDS.index("language")
    payload: list[tuple[Any, ...]] = []
    keys: dict[str, str] = {}
    for key, values in new:
        code = codes.take()
        keys[code] = key
        values[language] = values[language] or "en"
        payload.append((*values, code, False, False, False, False, False, True, stamp, stamp))
    bulk.run(payload)
    ids: dict[str, int] = {}
    given = list(keys)
    for i in range(0, len(given), PAGE):
        query = select(table.c.id, table.c.vendor_code).where(
            table.c.vendor_code.in_(given[i : i + PAGE])
        )
        for vid, stored in conn.execute(query):
            ids[keys[stored]] = vid
    return ids


class VendorCodes:
    """The next free numeric vendor codes (above 100000 and every numeric code on file)."""

    def __init__(self, session: Session) -> None:
        self._next = _highest_code(session.connection()) + 1

    def take(self) -> str:
        code = str(self._next)
        self._next += 1
        return code


def _highest_code(conn: Connection) -> int:
    if conn.dialect.name == "postgresql":
        sql = "SELECT max(vendor_code::numeric) FROM vendor WHERE vendor_code ~ '^[0-9]+$'"
    else:
        sql = (
            "SELECT max(CAST(vendor_code AS INTEGER)) FROM vendor "
            "WHERE vendor_code <> '' AND vendor_code NOT GLOB '*[^0-9]*'"
        )
    found = conn.exec_driver_sql(sql).scalar()
    return max(100000, int(found or 0))
