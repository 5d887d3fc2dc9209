"""Write validated roster rows: agents, vendors, roster certificates and policies, in bulk.

Vendors are matched by email, else name; agents likewise; policies by vendor, coverage and
policy number. Unchanged rows write nothing, so importing the same file twice changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlmodel import Session, SQLModel, col

from comms.models import Agent, Certificate, Policy, Vendor
from comms.roster.bulk import bulk_insert, insert_tuples
from comms.roster.rows import RosterRow

if TYPE_CHECKING:
    from comms.roster.importer import ImportResult


def _key(email: str | None, name: str | None) -> str:
    return f"e:{email.lower()}" if email else f"n:{(name or '').strip().lower()}"


def _merge_vendor(target: dict[str, Any], row: RosterRow, profile_ids: dict[str, int]) -> None:
    values = {
        "name": row.vendor_name,
        "email": row.vendor_email,
        "phone": row.vendor_phone,
        "contact_name": row.vendor_contact,
        "timezone": row.vendor_timezone,
        "language": row.vendor_language,
        "profile_id": profile_ids.get(row.profile) if row.profile else None,
    }
    for key, value in values.items():
        if value is not None and target.get(key) is None:
            target[key] = value


def write_rows(
    session: Session,
    rows: list[RosterRow],
    profile_ids: dict[str, int],
    *,
    now: datetime,
    source: str,
    result: ImportResult,
) -> None:
    agents = _upsert_agents(session, rows, now=now, result=result)
    vendor_ids = _upsert_vendors(session, rows, profile_ids, agents, now=now, result=result)
    _upsert_policies(session, rows, vendor_ids, now=now, source=source, result=result)


def _upsert_agents(
    session: Session, rows: list[RosterRow], *, now: datetime, result: ImportResult
) -> dict[str, int]:
    existing: dict[str, int] = {}
    for aid, email, name in session.execute(
        select(col(Agent.id), col(Agent.email), col(Agent.name))
    ):
        existing.setdefault(_key(email, name), aid)
        existing.setdefault(_key(None, name), aid)
    wanted: dict[str, dict[str, Any]] = {}
    for row in rows:
        if not (row.agent_name or row.agent_email):
            continue
        key = _key(row.agent_email, row.agent_name)
        if key in existing or key in wanted:
            continue
        wanted[key] = {
            "name": row.agent_name or row.agent_email or "",
            "email": row.agent_email,
            "phone": row.agent_phone,
            "agency": row.agency,
            "email_invalid": False,
            "phone_invalid": False,
            "created_at": now,
            "updated_at": now,
        }
    if wanted:
        keys = list(wanted)
        ids = session.scalars(
            insert(Agent).returning(col(Agent.id), sort_by_parameter_order=True),
            [wanted[k] for k in keys],
        ).all()
        existing.update(zip(keys, [int(i or 0) for i in ids], strict=True))
        result.agents_created = len(ids)
    return existing


_VENDOR_FIELDS = (
    "name",
    "email",
    "phone",
    "contact_name",
    "timezone",
    "language",
    "profile_id",
    "agent_id",
)


def _upsert_vendors(
    session: Session,
    rows: list[RosterRow],
    profile_ids: dict[str, int],
    agents: dict[str, int],
    *,
    now: datetime,
    result: ImportResult,
) -> dict[str, int]:
    current: dict[str, dict[str, Any]] = {}
    by_key: dict[str, int] = {}
    columns = [getattr(Vendor, f) for f in ("id", *_VENDOR_FIELDS)]
    for rec in session.execute(select(*columns)).mappings():
        data = dict(rec)
        current[str(data["id"])] = data
        if data["email"]:
            by_key.setdefault(_key(data["email"], None), data["id"])
        by_key.setdefault(_key(None, data["name"]), data["id"])
    incoming: dict[str, dict[str, Any]] = {}
    seen: set[tuple[Any, ...]] = set()
    for row in rows:
        signature = (
            row.vendor_name,
            row.vendor_email,
            row.vendor_phone,
            row.vendor_contact,
            row.vendor_timezone,
            row.vendor_language,
            row.profile,
            row.agent_email,
            row.agent_name,
        )
        if signature in seen:
            continue  # the same vendor again on its next policy row
        seen.add(signature)
        key = _key(row.vendor_email, row.vendor_name)
        target = incoming.setdefault(key, {})
        _merge_vendor(target, row, profile_ids)
        if "agent_id" not in target and (row.agent_email or row.agent_name):
            target["agent_id"] = agents.get(_key(row.agent_email, row.agent_name))
    resolved: dict[str, int] = {}
    new_keys: list[str] = []
    updates: list[dict[str, Any]] = []
    for key, values in incoming.items():
        vid = by_key.get(key) or (
            by_key.get(_key(None, values["name"])) if not values.get("email") else None
        )
        if vid is None:
            new_keys.append(key)
            continue
        resolved[key] = vid
        have = current[str(vid)]
        change = {f: v for f, v in values.items() if v is not None and have.get(f) != v}
        if change:
            updates.append({"id": vid, **change, "updated_at": now})
    if updates:
        for item in updates:
            session.execute(update(Vendor), [item])
        result.vendors_updated = len(updates)
    if new_keys:
        next_code = _next_vendor_code(session)
        payload = []
        for offset, key in enumerate(new_keys):
            values = incoming[key]
            payload.append(
                {
                    **{f: values.get(f) for f in _VENDOR_FIELDS},
                    "language": values.get("language") or "en",
                    "vendor_code": str(next_code + offset),
                    "opt_out_email": False,
                    "opt_out_sms": False,
                    "opt_out_call": False,
                    "email_invalid": False,
                    "phone_invalid": False,
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        bulk_insert(session.connection(), SQLModel.metadata.tables["vendor"], payload)
        codes = {str(next_code + offset): key for offset, key in enumerate(new_keys)}
        for vid, code in session.execute(select(col(Vendor.id), col(Vendor.vendor_code))):
            if code in codes:
                resolved[codes[code]] = vid
        result.vendors_created = len(new_keys)
    return resolved


def _next_vendor_code(session: Session) -> int:
    codes = session.scalars(
        select(col(Vendor.vendor_code)).where(col(Vendor.vendor_code).is_not(None))
    ).all()
    numeric = [int(c) for c in codes if c and c.isdigit()]
    return max([100000, *numeric]) + 1


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


_POLICY_INSERT_COLUMNS = (
    "certificate_id",
    "vendor_id",
    "coverage",
    "policy_number",
    *_POLICY_FIELDS,
    "created_at",
    "updated_at",
)


def _policy_values(row: RosterRow) -> dict[str, Any]:
    return {
        "label": row.label,
        "insurer": row.insurer,
        "naic": row.naic,
        "effective_date": row.effective_date,
        "expiration_date": row.expiration_date,
        "limits": dict(sorted(row.limits.items())),
        "additional_insured": row.additional_insured,
        "subrogation_waived": row.waiver_of_subrogation,
        "occurrence": row.occurrence,
    }


def _upsert_policies(
    session: Session,
    rows: list[RosterRow],
    vendor_ids: dict[str, int],
    *,
    now: datetime,
    source: str,
    result: ImportResult,
) -> None:
    policy_rows = [r for r in rows if r.coverage]
    if not policy_rows:
        return
    certs: dict[int, int] = {}
    for cid, vid in session.execute(
        select(col(Certificate.id), col(Certificate.vendor_id)).where(
            col(Certificate.source) == "roster", col(Certificate.status) == "accepted"
        )
    ):
        certs.setdefault(vid, cid)
    existing: dict[tuple[int, str, str], dict[str, Any]] = {}
    columns = [Policy.id, Policy.vendor_id, Policy.coverage, Policy.policy_number] + [
        getattr(Policy, f) for f in _POLICY_FIELDS
    ]
    for rec in session.execute(select(*columns)).mappings():
        data = dict(rec)
        existing[(data["vendor_id"], data["coverage"], data["policy_number"] or "")] = data
    need_cert = sorted(
        {vendor_ids[_key(r.vendor_email, r.vendor_name)] for r in policy_rows} - set(certs)
    )
    if need_cert:
        bulk_insert(
            session.connection(),
            SQLModel.metadata.tables["certificate"],
            [
                {
                    "vendor_id": vid,
                    "source": "roster",
                    "reference": source,
                    "received_at": now,
                    "status": "accepted",
                    "extraction": {},
                    "doubtful_fields": [],
                    "created_at": now,
                }
                for vid in need_cert
            ],
        )
        wanted = set(need_cert)
        for cid, vid in session.execute(
            select(col(Certificate.id), col(Certificate.vendor_id)).where(
                col(Certificate.source) == "roster", col(Certificate.status) == "accepted"
            )
        ):
            if vid in wanted:
                certs.setdefault(vid, cid)
    inserts: dict[tuple[int, str, str], tuple[Any, ...]] = {}
    updates: list[dict[str, Any]] = []
    key_of: dict[tuple[str | None, str], int] = {}
    for row in policy_rows:
        ident = (row.vendor_email, row.vendor_name)
        vid = key_of.get(ident)
        if vid is None:
            vid = key_of[ident] = vendor_ids[_key(row.vendor_email, row.vendor_name)]
        assert row.coverage is not None
        key = (vid, row.coverage, row.policy_number or "")
        have = existing.get(key)
        if have is not None:
            values = _policy_values(row)
            change = {f: v for f, v in values.items() if have.get(f) != v}
            if change:
                updates.append({"id": have["id"], **change, "updated_at": now})
                have.update(change)
            continue
        inserts[key] = (
            certs[vid],
            vid,
            row.coverage,
            row.policy_number,
            row.label,
            row.insurer,
            row.naic,
            row.effective_date,
            row.expiration_date,
            row.limits,
            row.additional_insured,
            row.waiver_of_subrogation,
            row.occurrence,
            now,
            now,
        )
    if inserts:
        insert_tuples(
            session.connection(),
            SQLModel.metadata.tables["policy"],
            _POLICY_INSERT_COLUMNS,
            list(inserts.values()),
        )
        result.policies_created = len(inserts)
    if updates:
        for item in updates:
            session.execute(update(Policy), [item])
        result.policies_updated = len(updates)
