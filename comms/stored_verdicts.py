"""Stored verdicts: each active vendor's verdict kept in `vendor_verdict`, current as of the
day it was computed for and until `changes_on`, the first day it can change with no new input.

- `refresh` recomputes named vendors (in chunks) from `comms.verdict_inputs.load_inputs` and
  writes only what changed, with a `verdict_change` row for each change of status. Every write
  path that changes an input calls it in its own transaction (import, certificate decisions,
  profile changes, vendor edits).
- `roll` is the daily pass: the vendors whose `changes_on` has arrived (an index range), and
  the active vendors that have no stored verdict yet.
- `drift` compares stored with fresh (`comms verdicts check`).
- `verdict_of` turns a stored row back into a `Verdict` for a day within its validity.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel, col

from comms.bulk_sql import insert_rows, update_rows
from comms.compliance import (
    STATUS_ORDER,
    Deficiency,
    Status,
    Verdict,
    evaluate,
    waiver_change_dates,
)
from comms.models import Vendor, VendorVerdict, VerdictChange
from comms.settings import get_settings
from comms.verdict_inputs import EMPTY_PROFILE, ProfileCache, VerdictInputs, chunks, load_inputs

BATCH = 1000
SEVERITY = {status: len(STATUS_ORDER) - 1 - i for i, status in enumerate(STATUS_ORDER)}
# missing 0 (the worst) … compliant 4: `ORDER BY severity` lists the worst first
UNREACHABLE = "unreachable"
WAIVED = "waived"  # a waiver set a deficiency aside
# the columns whose values are the verdict (computed_for and updated_at are bookkeeping)
CONTENT = (
    "profile_id",
    "status",
    "severity",
    "unreachable",
    "flags",
    "deficiencies",
    "next_expiration",
    "expired_since",
    "covered",
    "waived",
    "waivers",
    "changes_on",
)


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


@dataclass(frozen=True)
class Judged:
    """A vendor's verdict for a day with what the stored row adds to it."""

    vendor_id: int
    verdict: Verdict
    flags: tuple[str, ...]
    changes_on: date | None
    profile_id: int | None

    @property
    def unreachable(self) -> bool:
        return UNREACHABLE in self.flags

    def content(self) -> dict[str, Any]:
        v = self.verdict
        return {
            "profile_id": self.profile_id,
            "status": v.status.value,
            "severity": SEVERITY[v.status],
            "unreachable": self.unreachable,
            "flags": list(self.flags),
            "deficiencies": [d.as_dict() for d in v.deficiencies],
            "next_expiration": v.next_expiration,
            "expired_since": v.expired_since,
            "covered": list(v.covered),
            "waived": [d.as_dict() for d in v.waived],
            "waivers": list(v.waivers),
            "changes_on": self.changes_on,
        }


def judge(inputs: VerdictInputs, day: date) -> Judged:
    """The verdict of `inputs` on `day`, its flags and the day it next can change."""
    verdict = inputs.verdict(day)
    flags = (*(() if inputs.reachable else (UNREACHABLE,)), *((WAIVED,) if verdict.waivers else ()))
    return Judged(
        vendor_id=inputs.vendor_id,
        verdict=verdict,
        flags=flags,
        changes_on=changes_on(inputs, verdict, day),
        profile_id=inputs.profile_id,
    )


def changes_on(inputs: VerdictInputs, verdict: Verdict, day: date) -> date | None:
    """The first day after `day` on which `evaluate` can answer differently with the same
    inputs: a policy starts, ends, or enters the profile's expiring window, or a waiver starts
    or stops applying (no deficiency's text depends on the day itself)."""
    waiver_days = [d for d in waiver_change_dates(inputs.waivers) if d > day]
    found: date | None = min(waiver_days) if waiver_days else None
    if not inputs.has_certificate:
        return found  # no certificate: nothing on file has dates
    window = timedelta(days=inputs.profile.expiring_within_days)
    wanted = set(inputs.profile.coverages)
    for fact in inputs.facts:
        if fact.coverage not in wanted:
            continue
        for candidate in (
            fact.effective,
            fact.expiration,
            fact.expiration - window if fact.expiration else None,
        ):
            if candidate is not None and candidate > day and (found is None or candidate < found):
                found = candidate
    return found


def _deficiency(d: dict[str, Any]) -> Deficiency:
    return Deficiency(
        code=d["code"],
        coverage=d["coverage"],
        message=d["message"],
        required=d.get("required"),
        actual=d.get("actual"),
        limit=d.get("limit"),
    )


def verdict_of(row: VendorVerdict | Any, day: date) -> Verdict:
    """The stored row as a `Verdict` on `day` (a day from its computed_for until changes_on)."""
    return Verdict(
        status=Status(row.status),
        as_of=day,
        deficiencies=tuple(_deficiency(d) for d in row.deficiencies),
        next_expiration=row.next_expiration,
        expired_since=row.expired_since,
        covered=tuple(row.covered),
        waived=tuple(_deficiency(d) for d in row.waived),
        waivers=tuple(row.waivers),
    )


def valid_on(row: VendorVerdict | Any, day: date) -> bool:
    return row.computed_for <= day and (row.changes_on is None or day < row.changes_on)


@dataclass
class RefreshResult:
    computed: int = 0
    written: int = 0
    removed: int = 0
    changes: int = 0  # verdict_change rows


def refresh(
    session: Session,
    vendor_ids: Iterable[int],
    *,
    day: date,
    now: datetime,
    reason: str,
    profiles: ProfileCache | None = None,
) -> RefreshResult:
    """Recompute the named vendors' stored verdicts for `day`, in chunks; write the rows whose
    verdict differs, remove those of inactive or deleted vendors, and record each change of
    status in `verdict_change`. Runs in the caller's transaction."""
    result = RefreshResult()
    cache = profiles or ProfileCache()
    session.flush()  # the ORM's pending changes, visible to the queries below
    wanted = set(vendor_ids)
    settled(session, wanted, now)
    for chunk in chunks(wanted, BATCH):
        _refresh_chunk(session, chunk, day=day, now=now, reason=reason, cache=cache, out=result)
    return result


PENDING = "stored_verdicts.pending"  # session.info: vendor ids whose inputs changed
PENDING_PROFILES = "stored_verdicts.pending_profiles"
LAST_NOW = "stored_verdicts.now"  # session.info: the `now` of the transaction's last refresh


def settled(session: Session, vendor_ids: set[int], now: datetime) -> None:
    """`vendor_ids` are being refreshed as of `now`: no longer pending in this transaction."""
    pending = session.info.get(PENDING)
    if pending:
        pending.difference_update(vendor_ids)
    session.info[LAST_NOW] = now


def _refresh_chunk(
    session: Session,
    chunk: list[int],
    *,
    day: date,
    now: datetime,
    reason: str,
    cache: ProfileCache,
    out: RefreshResult,
) -> None:
    conn = session.connection()
    table = _table("vendor_verdict")
    inputs = load_inputs(session, chunk, profiles=cache)
    stored = {
        r.vendor_id: r
        for r in conn.execute(
            select(table.c.vendor_id, table.c.computed_for, *(table.c[n] for n in CONTENT)).where(
                table.c.vendor_id.in_(chunk)
            )
        ).all()
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    delta: dict[tuple[int, str], int] = {}
    gone = [vid for vid in chunk if vid in stored and (vid not in inputs or not inputs[vid].active)]
    for vid in chunk:
        item = inputs.get(vid)
        if item is None or not item.active:
            continue
        out.computed += 1
        content = judge(item, day).content()
        old = stored.get(vid)
        if (
            old is not None
            and old.computed_for <= day
            and all(getattr(old, n) == content[n] for n in CONTENT)
        ):
            continue
        row = {"vendor_id": vid, **content, "computed_for": day, "updated_at": now}
        (inserts if old is None else updates).append(row)
        if old is not None:
            _count(delta, old.profile_id, old.status, -1)
        _count(delta, content["profile_id"], content["status"], +1)
        old_status = old.status if old is not None else None
        if old_status != content["status"]:
            history.append(
                {
                    "vendor_id": vid,
                    "at": now,
                    "day": day,
                    "old_status": old_status,
                    "new_status": content["status"],
                    "reason": reason,
                }
            )
    for vid in gone:
        _count(delta, stored[vid].profile_id, stored[vid].status, -1)
        history.append(
            {
                "vendor_id": vid,
                "at": now,
                "day": day,
                "old_status": stored[vid].status,
                "new_status": "inactive",
                "reason": reason,
            }
        )
    if gone:
        conn.execute(delete(table).where(table.c.vendor_id.in_(gone)))
    if inserts:
        insert_rows(conn, table, inserts)
    if updates:
        update_rows(conn, table, updates, key="vendor_id")
    if history:
        insert_rows(conn, _table("verdict_change"), history)
    _apply_counts(session, delta)
    out.written += len(inserts) + len(updates)
    out.removed += len(gone)
    out.changes += len(history)


def _count(delta: dict[tuple[int, str], int], profile_id: int | None, status: str, n: int) -> None:
    key = (profile_id or 0, status)
    delta[key] = delta.get(key, 0) + n


def _apply_counts(session: Session, delta: dict[tuple[int, str], int]) -> None:
    """Add `delta` to `verdict_count`, in key order (concurrent writers lock its rows in the
    same order, so they wait for each other rather than deadlock)."""
    table = _table("verdict_count")
    conn = session.connection()
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for (profile_key, status), n in sorted(delta.items()):
        if n == 0:
            continue
        stmt = insert(table).values(profile_key=profile_key, status=status, n=n)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["profile_key", "status"], set_={"n": table.c.n + n}
            )
        )


def due_ids(session: Session, day: date, *, limit: int = BATCH) -> list[int]:
    """Vendors whose stored verdict may have changed by `day` (the `changes_on` index), or
    was computed for a later day (the `computed_for` index: a clock set back, `--now`).
    Refreshing them takes them out of this set."""
    table = _table("vendor_verdict")
    conn = session.connection()
    found: set[int] = set()
    for column, condition in (
        (table.c.changes_on, table.c.changes_on <= day),
        (table.c.computed_for, table.c.computed_for > day),
    ):
        found.update(
            conn.scalars(
                select(table.c.vendor_id).where(condition).order_by(column).limit(limit)
            ).all()
        )
    return sorted(found)


def settle_pending(session: Session, *, now: datetime) -> None:
    """Refresh what this transaction's ORM writes changed and no refresh has seen yet
    (`comms.verdict_tracking` notes them; it calls this before each commit)."""
    session.flush()
    vendors: set[int] = session.info.pop(PENDING, set())
    profiles: set[int] = session.info.pop(PENDING_PROFILES, set())
    for profile_id in sorted(profiles):
        refresh_profile(session, profile_id, now=now, reason="profile changed")
    if vendors:
        refresh(session, vendors, day=org_day(now), now=now, reason="records changed")


def roll(session: Session, *, day: date, now: datetime) -> RefreshResult:
    """The daily roll: recompute the vendors whose `changes_on` has arrived (or whose stored
    verdict is for a later day), through their indexes; a no-op when nothing is due. Every
    write path stores a vendor's first verdict, so the roll never looks for vendors without
    one (`comms verdicts refresh` does, after data written by other means)."""
    settle_pending(session, now=now)
    result = RefreshResult()
    cache = ProfileCache()
    seen: set[int] = set()
    while ids := [i for i in due_ids(session, day) if i not in seen]:
        _refresh_chunk(session, ids, day=day, now=now, reason="daily roll", cache=cache, out=result)
        seen.update(ids)
    return result


def needs_roll(session: Session, day: date) -> bool:
    """Whether `roll` has anything to do for `day` (two index probes)."""
    return bool(due_ids(session, day, limit=1)) or bool(session.info.get(PENDING))


def refresh_all(session: Session, *, day: date, now: datetime, reason: str) -> RefreshResult:
    """Every vendor (`comms verdicts refresh`): after data written by other means."""
    result = RefreshResult()
    cache = ProfileCache()
    for ids in vendor_id_batches(session):
        _refresh_chunk(session, ids, day=day, now=now, reason=reason, cache=cache, out=result)
    recount(session)
    return result


def recount(session: Session) -> None:
    """`verdict_count` rebuilt from the verdict rows (after `refresh_all`)."""
    conn = session.connection()
    table = _table("verdict_count")
    conn.execute(delete(table))
    rows = [{"profile_key": p, "status": s, "n": n} for (p, s), n in counted_rows(session).items()]
    if rows:
        conn.execute(table.insert(), rows)


def vendor_id_batches(
    session: Session, *, active_only: bool = False, batch: int = BATCH
) -> Iterator[list[int]]:
    """Every vendor id (or every active one), in order, a batch at a time (keyset)."""
    v = _table("vendor")
    after = 0
    while True:
        query = select(v.c.id).where(v.c.id > after).order_by(v.c.id).limit(batch)
        if active_only:
            query = query.where(v.c.active.is_(True))
        ids = list(session.connection().scalars(query).all())
        if not ids:
            return
        yield ids
        after = ids[-1]


@dataclass(frozen=True)
class Drift:
    vendor_id: int
    stored: dict[str, Any] | None
    fresh: dict[str, Any] | None

    def fields(self) -> list[str]:
        if self.stored is None or self.fresh is None:
            return ["(row)"]
        return [n for n in CONTENT if n != "changes_on" and self.stored[n] != self.fresh[n]]


def drift(session: Session, *, day: date, limit: int | None = None) -> Iterator[Drift]:
    """Vendors whose stored verdict differs from a fresh computation for `day` (their
    status, flags, deficiencies, dates or profile), or whose stored row is missing or left
    over. A stored verdict counts for `day` from its computed_for until its changes_on."""
    table = _table("vendor_verdict")
    cache = ProfileCache()
    found = 0
    for ids in vendor_id_batches(session):
        inputs = load_inputs(session, ids, profiles=cache)
        rows = {
            r.vendor_id: r
            for r in session.connection()
            .execute(
                select(
                    table.c.vendor_id, table.c.computed_for, *(table.c[n] for n in CONTENT)
                ).where(table.c.vendor_id.in_(ids))
            )
            .all()
        }
        for vid in ids:
            item = inputs.get(vid)
            row = rows.get(vid)
            fresh = judge(item, day).content() if item is not None and item.active else None
            stored = {n: getattr(row, n) for n in CONTENT} if row is not None else None
            if fresh is None and stored is None:
                continue
            if fresh is not None and stored is not None and row is not None:
                same = all(stored[n] == fresh[n] for n in CONTENT if n != "changes_on")
                if same and valid_on(row, day):
                    continue
            yield Drift(vid, stored, fresh)
            found += 1
            if limit is not None and found >= limit:
                return


def case_candidates(session: Session, *, day: date, horizon: int) -> list[int]:
    """Vendors whose stored verdict may call for a case: not compliant (the `worst` index),
    or with a coverage ending within `horizon` days (the `next_expiration` index)."""
    table = _table("vendor_verdict")
    conn = session.connection()
    compliant = SEVERITY[Status.COMPLIANT]
    found = set(conn.scalars(select(table.c.vendor_id).where(table.c.severity < compliant)))
    found.update(
        conn.scalars(
            select(table.c.vendor_id).where(
                table.c.next_expiration <= day + timedelta(days=horizon)
            )
        )
    )
    return sorted(found)


def expiring_count(session: Session, day: date, days: int) -> int:
    """Active vendors whose next expiration falls within `days` of `day` (inclusive; the
    `next_expiration` index)."""
    table = _table("vendor_verdict")
    end = day + timedelta(days=days)
    return int(
        session.connection()
        .execute(
            select(func.count()).where(
                table.c.next_expiration >= day, table.c.next_expiration <= end
            )
        )
        .scalar_one()
    )


def counts(session: Session, *, profile_id: int | None = None) -> dict[str, int]:
    """Active vendors by stored status, from `verdict_count` (a few rows, whatever the
    roster); of one profile's vendors with `profile_id`."""
    table = _table("verdict_count")
    query = select(table.c.status, func.sum(table.c.n)).group_by(table.c.status)
    if profile_id is not None:
        query = query.where(table.c.profile_key == profile_id)
    out = {s.value: 0 for s in STATUS_ORDER}
    for status, n in session.connection().execute(query).all():
        out[status] = int(n or 0)
    return out


def counts_history(session: Session, days: list[date]) -> dict[date, dict[str, int]]:
    """The counts by status as they stood at the end of each of `days`: today's counts with
    the later changes of `verdict_change` undone (its `at` index bounds what is read)."""
    if not days:
        return {}
    today = counts(session)
    first = min(days)
    t = _table("verdict_change")
    since = datetime.combine(first, datetime.min.time(), tzinfo=get_settings().zone)
    rows = (
        session.connection()
        .execute(
            select(t.c.day, t.c.old_status, t.c.new_status, func.count())
            .where(t.c.at >= since - timedelta(days=1), t.c.day > first)
            .group_by(t.c.day, t.c.old_status, t.c.new_status)
        )
        .all()
    )
    out: dict[date, dict[str, int]] = {}
    for day in days:
        c = dict(today)
        for changed_on, old, new, n in rows:
            if changed_on <= day:
                continue
            if new in c:
                c[new] -= n
            if old in c:
                c[old] += n
        out[day] = c
    return out


def counts_by_profile(session: Session) -> dict[int, dict[str, int]]:
    """`counts` for every profile at once, by profile id (0: vendors without one)."""
    table = _table("verdict_count")
    out: dict[int, dict[str, int]] = {}
    for profile_key, status, n in session.connection().execute(
        select(table.c.profile_key, table.c.status, table.c.n)
    ):
        out.setdefault(profile_key, {s.value: 0 for s in STATUS_ORDER})[status] = int(n)
    return out


def counted_rows(session: Session) -> dict[tuple[int, str], int]:
    """The counts recounted from the verdict rows (`comms verdicts check` compares)."""
    table = _table("vendor_verdict")
    key = func.coalesce(table.c.profile_id, 0)
    query = select(key, table.c.status, func.count()).group_by(key, table.c.status)
    return {(p, s): int(n) for p, s, n in session.connection().execute(query).all()}


def count_drift(session: Session) -> dict[tuple[int, str], tuple[int, int]]:
    """(kept, recounted) for each (profile, status) where `verdict_count` is wrong."""
    table = _table("verdict_count")
    kept = {
        (p, s): int(n)
        for p, s, n in session.connection().execute(
            select(table.c.profile_key, table.c.status, table.c.n)
        )
    }
    actual = counted_rows(session)
    keys = set(kept) | set(actual)
    return {
        k: (kept.get(k, 0), actual.get(k, 0))
        for k in sorted(keys)
        if kept.get(k, 0) != actual.get(k, 0)
    }


def history(session: Session, vendor_id: int, *, limit: int = 100) -> list[VerdictChange]:
    """One vendor's verdict changes, newest first (the `ix_verdict_change_vendor_at` index):
    for its timeline."""
    return list(
        session.scalars(
            select(VerdictChange)
            .where(col(VerdictChange.vendor_id) == vendor_id)
            .order_by(col(VerdictChange.at).desc(), col(VerdictChange.id).desc())
            .limit(limit)
        )
    )


def changes_since(session: Session, since: datetime) -> list[tuple[date, str | None, str, int]]:
    """(day, old status, new status, how many) of the changes since `since` (the
    `ix_verdict_change_at` index): the trend."""
    t = _table("verdict_change")
    rows = session.connection().execute(
        select(t.c.day, t.c.old_status, t.c.new_status, func.count())
        .where(t.c.at >= since)
        .group_by(t.c.day, t.c.old_status, t.c.new_status)
        .order_by(t.c.day)
    )
    return [(d, old, new, int(n)) for d, old, new, n in rows]


def stored_for(session: Session, vendor_ids: Iterable[int], day: date) -> dict[int, Verdict]:
    """The stored verdicts of the named vendors that are valid on `day`."""
    out: dict[int, Verdict] = {}
    table = _table("vendor_verdict")
    conn = session.connection()
    for chunk in chunks(vendor_ids):
        for stored in conn.execute(select(table).where(table.c.vendor_id.in_(chunk))):
            if valid_on(stored, day):  # (plain rows: no ORM object is built for a read)
                out[stored.vendor_id] = verdict_of(stored, day)
    return out


def verdict_on(session: Session, vendor_id: int, day: date) -> Verdict:
    """The vendor's verdict on `day` for a reader that writes nothing: its stored verdict when
    that holds on `day` (one primary-key read), else computed from its records (another day,
    or before the day's roll, or when this session changed its inputs and has not refreshed
    them yet). Kept equal to a fresh computation, so both answers are the same."""
    session.flush()  # the ORM's pending changes noted (`comms.verdict_tracking`)
    pending = session.info.get(PENDING) or ()
    if vendor_id not in pending and not session.info.get(PENDING_PROFILES):
        found = stored_for(session, [vendor_id], day).get(vendor_id)
        if found is not None:
            return found
    return computed(session, vendor_id, day)


def computed(session: Session, vendor_id: int, day: date) -> Verdict:
    """The vendor's verdict on `day` computed from its records (nothing stored is read)."""
    session.flush()
    inputs = load_inputs(session, [vendor_id]).get(vendor_id)
    if inputs is None:  # not flushed yet: nothing of it is stored
        return evaluate([], EMPTY_PROFILE, day, has_certificate=False)
    return judge(inputs, day).verdict


def current(
    session: Session, vendor: Vendor, *, day: date, now: datetime, reason: str = "read"
) -> Verdict:
    """The vendor's verdict on `day`: the stored one when valid, else recomputed (and stored
    when `day` is not before the stored one's day)."""
    assert vendor.id is not None
    row = session.get(VendorVerdict, vendor.id)
    if row is not None and valid_on(row, day):
        return verdict_of(row, day)
    if row is None or row.computed_for <= day:
        refresh(session, [vendor.id], day=day, now=now, reason=reason)
        row = session.get(VendorVerdict, vendor.id, populate_existing=True)
        if row is not None:
            return verdict_of(row, day)
    return computed(session, vendor.id, day)


__all__ = [
    "SEVERITY",
    "UNREACHABLE",
    "Drift",
    "Judged",
    "RefreshResult",
    "VerdictChange",
    "case_candidates",
    "changes_since",
    "computed",
    "count_drift",
    "counts",
    "counts_by_profile",
    "counts_history",
    "current",
    "drift",
    "expiring_count",
    "history",
    "judge",
    "needs_roll",
    "org_day",
    "refresh",
    "refresh_all",
    "refresh_profile",
    "refresh_vendor",
    "roll",
    "settle_pending",
    "stored_for",
    "verdict_of",
    "verdict_on",
]


def org_day(now: datetime) -> date:
    """`now`'s date in the organization's zone (the day verdicts are computed for)."""
    return now.astimezone(get_settings().zone).date()


def refresh_vendor(session: Session, vendor_id: int, *, now: datetime, reason: str) -> Verdict:
    """Recompute one vendor's stored verdict for `now`'s day and return it (computed fresh
    for an inactive vendor, which has no stored verdict)."""
    day = org_day(now)
    refresh(session, [vendor_id], day=day, now=now, reason=reason)
    row = session.get(VendorVerdict, vendor_id, populate_existing=True)
    if row is not None:
        return verdict_of(row, day)
    return computed(session, vendor_id, day)


def refresh_profile(
    session: Session, profile_id: int, *, now: datetime, reason: str
) -> RefreshResult:
    """Recompute the stored verdicts of a profile's vendors, a batch at a time."""
    session.flush()
    pending = session.info.get(PENDING_PROFILES)
    if pending:
        pending.discard(profile_id)
    session.info[LAST_NOW] = now
    day = org_day(now)
    v = _table("vendor")
    result = RefreshResult()
    cache = ProfileCache()
    after = 0
    while True:
        ids = list(
            session.connection()
            .scalars(
                select(v.c.id)
                .where(v.c.profile_id == profile_id, v.c.id > after)
                .order_by(v.c.id)
                .limit(BATCH)
            )
            .all()
        )
        if not ids:
            return result
        _refresh_chunk(session, ids, day=day, now=now, reason=reason, cache=cache, out=result)
        after = ids[-1]
