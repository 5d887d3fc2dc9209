"""The bulk planner does exactly what the one-case engine does.

A mixed population (ladders of every trigger, quiet hours in another zone, a vendor with no
phone, no email, an agent without a usable address, an opt-out, a suppressed address, a
campaign) runs through two months of ticks twice: once with every case through
`advance_case` (the reference), once with the bulk planner. Between ticks the same things
happen in both runs: a bounce, a snooze, a certificate that makes a vendor compliant without
anyone re-evaluating it, a vendor made inactive, a failing certificate that switches ladders,
a pause. After every tick the cases, their events and the delivery rows must be identical.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, func
from sqlmodel import select as orm_select

from comms.channels import SendOutcome
from comms.db import session_scope
from comms.models import Case, Delivery, Suppression, Vendor
from comms.outbox import apply_outcome, claim
from comms.settings import get_settings
from tests.workflows.conftest import add_certificate, add_vendor
from workflows.calendar import local_moment
from workflows.campaigns import run_due_campaigns
from workflows.lifecycle import pause_case, record_outcome
from workflows.models import Campaign
from workflows.scheduler import TickResult, advance_due, open_scan

START = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
END = datetime(2027, 2, 5, 5, 0, tzinfo=UTC)
EXPIRES = date(2027, 1, 15)

Mutation = Callable[[Session, datetime], None]


def populate(engine: Engine) -> None:
    with Session(engine) as s:
        add_vendor(s, name="Acme Roofing LLC")
        add_vendor(s, name="Island Pools", phone="+18085550100")
        add_vendor(s, name="Bright Co", phone=None, expires=date(2027, 1, 10))
        add_vendor(s, name="Gone Co")
        add_vendor(s, name="Switch Co")
        add_vendor(s, name="Thin Co", expires=date(2027, 12, 1), limit=100_000)
        add_vendor(s, name="Paused Co")
        odd = add_vendor(s, name="Odd Agent Co", expires=date(2027, 1, 20))
        opt = add_vendor(s, name="Opt Co", expires=date(2027, 1, 12), timezone="America/Chicago")
        nothing = add_vendor(s, name="Nothing Co", expires=None, phone=None)
        muted = add_vendor(s, name="Muted Co", expires=None)
        nothing.email, nothing.agent_id = None, None
        opt.opt_out_email, opt.opt_out_sms = True, True
        s.add_all([nothing, opt])
        agent = odd.agent_id
        s.execute(text("UPDATE agent SET email = 'not-an-address' WHERE id = :id"), {"id": agent})
        s.add(
            Suppression(channel="email", address=muted.email or "", reason="test", created_at=START)
        )
        s.add(
            Campaign(
                name="thin ones",
                template="deficiency_notice",
                recipients=["vendor", "agent"],
                segment={"status": "non_compliant"},
                next_run_at=START,
                created_at=START,
            )
        )
        s.add(
            Campaign(
                name="thin again",
                template="reminder",
                recipients=["vendor"],
                segment={"status": "non_compliant"},
                next_run_at=datetime(2027, 1, 5, 5, 0, tzinfo=UTC),
                created_at=START,
            )
        )
        s.commit()


def _vendor(s: Session, name: str) -> Vendor:
    return s.exec(orm_select(Vendor).where(Vendor.name == name)).one()


def _open_case(s: Session, name: str) -> Case:
    vendor = _vendor(s, name)
    return s.exec(
        orm_select(Case).where(
            Case.vendor_id == vendor.id,
            col(Case.state).in_(("active", "waiting")),
            Case.campaign_id == 0,
        )
    ).one()


def bounce(s: Session, now: datetime) -> None:
    """Acme's newest email to the vendor bounces: the ladder skips to its first phone step
    (the second time, one whose rows exist: its keys are planned again)."""
    vendor = _vendor(s, "Acme Roofing LLC")
    row = s.exec(
        orm_select(Delivery)
        .where(Delivery.vendor_id == vendor.id, Delivery.recipient_kind == "vendor")
        .order_by(col(Delivery.id).desc())
    ).first()
    assert row is not None and row.channel == "email"
    s.commit()
    claimed = claim(s, row.id or 0, now=now)
    assert claimed is not None
    apply_outcome(s, claimed, SendOutcome(status="bounced", error="550 no such user"), now=now)


def snooze(s: Session, now: datetime) -> None:
    record_outcome(s, _open_case(s, "Island Pools").id or 0, "renewal_on_way", now=now)


def comply(s: Session, now: datetime) -> None:
    add_certificate(s, _vendor(s, "Bright Co"), expires=date(2028, 1, 10), limit=1_000_000, at=now)


def comply_thin(s: Session, now: datetime) -> None:
    add_certificate(s, _vendor(s, "Thin Co"), expires=date(2028, 1, 10), limit=1_000_000, at=now)


def deactivate(s: Session, now: datetime) -> None:
    vendor = _vendor(s, "Gone Co")
    vendor.active = False
    s.add(vendor)


def fail_profile(s: Session, now: datetime) -> None:
    add_certificate(s, _vendor(s, "Switch Co"), expires=date(2027, 12, 1), limit=1000, at=now)


def rewind(s: Session, now: datetime) -> None:
    """Staff move a case back one step: its rows exist, so the bulk path's insert clashes."""
    case = _open_case(s, "Odd Agent Co")
    case.step_index -= 1
    case.next_action_at = now
    s.add(case)


def race(s: Session, now: datetime) -> None:
    """A second open compliance case for one vendor (as a race between schedulers could
    leave): the recheck resolves the one the verdict does not call for."""
    case = _open_case(s, "Opt Co")
    s.add(
        Case(
            vendor_id=case.vendor_id,
            trigger="deficient",
            workflow="deficient",
            state="active",
            trigger_date=now.date(),
            next_action_at=now,
            data={"key": "cert:0"},
            created_at=now,
            updated_at=now,
        )
    )


def pause(s: Session, now: datetime) -> None:
    pause_case(s, _open_case(s, "Paused Co"), now=now)


# (not before, the vendor whose case must be due at that tick or None, what happens): applied
# just before a tick that does not scan, so the recheck before the step is what sees it
MUTATIONS: list[tuple[datetime, str | None, Mutation]] = [
    (datetime(2026, 12, 17, 6, 0, tzinfo=UTC), None, bounce),
    (datetime(2026, 12, 18, 6, 0, tzinfo=UTC), None, pause),
    (datetime(2026, 12, 20, 6, 0, tzinfo=UTC), None, snooze),
    (datetime(2026, 12, 20, 6, 0, tzinfo=UTC), "Bright Co", comply),
    (datetime(2026, 12, 23, 6, 0, tzinfo=UTC), "Gone Co", deactivate),
    (datetime(2026, 12, 28, 6, 0, tzinfo=UTC), "Switch Co", fail_profile),
    (datetime(2027, 1, 5, 6, 0, tzinfo=UTC), "Thin Co", comply_thin),
    (datetime(2027, 1, 16, 6, 0, tzinfo=UTC), None, bounce),
    (datetime(2027, 1, 4, 6, 0, tzinfo=UTC), None, rewind),
    (datetime(2026, 12, 29, 6, 0, tzinfo=UTC), "Opt Co", race),
]


def _due(engine: Engine, name: str, at: datetime) -> bool:
    with Session(engine) as s:
        vendor = _vendor(s, name)
        return (
            s.exec(
                orm_select(Case.id).where(
                    Case.vendor_id == vendor.id,
                    col(Case.state).in_(("active", "waiting")),
                    col(Case.next_action_at) <= at,
                )
            ).first()
            is not None
        )


def snapshot(engine: Engine) -> dict[str, Any]:
    """Cases, their events (in order, delivery ids as keys) and delivery rows (by key): ids
    of rows may differ (a rolled-back insert uses PostgreSQL sequence numbers)."""
    tables = SQLModel.metadata.tables
    with engine.connect() as c:
        deliveries = [dict(r) for r in c.execute(select(tables["delivery"])).mappings()]
        key_of = {d["id"]: d["idempotency_key"] for d in deliveries}
        cases = [dict(r) for r in c.execute(select(tables["case"]).order_by(text("id"))).mappings()]
        events = []
        for r in c.execute(
            select(tables["case_event"]).order_by(text("case_id"), text("id"))
        ).mappings():
            event = {k: v for k, v in r.items() if k != "id"}
            data = dict(event["data"])
            if "deliveries" in data:
                data["deliveries"] = [key_of.get(i, i) for i in data["deliveries"]]
            if "delivery_id" in data:
                data["delivery_id"] = key_of.get(data["delivery_id"])
            event["data"] = data
            events.append(event)
    for case in cases:
        case.pop("created_at")  # set by the Python default at opening (same in both runs)
    return {
        "cases": cases,
        "events": events,
        "deliveries": sorted(
            ({k: v for k, v in d.items() if k != "id"} for d in deliveries),
            key=lambda d: d["idempotency_key"],
        ),
    }


def one_tick(engine: Engine, at: datetime, *, bulk: bool, scan: bool = True) -> TickResult:
    settings = get_settings()
    if scan:
        with session_scope(engine) as s:
            open_scan(s, now=at, settings=settings)
            run_due_campaigns(s, now=at, settings=settings)
    result = TickResult()
    advance_due(engine, now=at, settings=settings, enqueue=None, result=result, batch=4, bulk=bulk)
    return result


def next_time(engine: Engine, at: datetime) -> datetime:
    settings = get_settings()
    with Session(engine) as s:
        nxt = s.exec(
            orm_select(func.min(Case.next_action_at)).where(
                col(Case.state).in_(("active", "waiting")), col(Case.next_action_at) > at
            )
        ).one()
    scan = local_moment(
        at.astimezone(settings.zone).date() + timedelta(days=1), time(0, 1), settings
    )
    return min(t for t in (nxt, scan) if t is not None)


def run(
    engine: Engine, *, bulk: bool, times: list[datetime] | None = None
) -> tuple[list[datetime], list[dict[str, Any]], list[tuple[int, int, int, int]]]:
    populate(engine)
    pending = list(MUTATIONS)
    seen: list[datetime] = []
    shots: list[dict[str, Any]] = []
    counts: list[tuple[int, int, int, int]] = []
    at = START
    while (times is None and at <= END) or (times is not None and len(seen) < len(times)):
        if times is not None:
            at = times[len(seen)]
        # the scan runs daily (and first): changes between scans are found by the recheck
        # before each step, on both paths
        scan = at == START or at.astimezone(get_settings().zone).time() == time(0, 1)
        for item in list(pending) if not scan else []:
            not_before, name, mutate = item
            if not_before <= at and (name is None or _due(engine, name, at)):
                pending.remove(item)
                with session_scope(engine) as s:
                    mutate(s, at)
        result = one_tick(engine, at, bulk=bulk, scan=scan)
        seen.append(at)
        counts.append((result.advanced, result.steps, len(result.deliveries), result.one_by_one))
        shots.append(snapshot(engine))
        if times is None:
            at = next_time(engine, at)
    return seen, shots, counts


def wipe(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        from tests.support.db import reset_tables

        reset_tables(engine)
        return
    with engine.begin() as c:
        for t in reversed(SQLModel.metadata.sorted_tables):
            c.execute(delete(t))


def test_bulk_planner_matches_the_one_case_engine(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import workflows.batch as batch

    clashes: list[set[str]] = []
    write = batch.write_plans

    def watched(*args: Any, **kwargs: Any) -> set[str]:
        try:
            found = write(*args, **kwargs)
        except batch.DuplicateKey:  # PostgreSQL's COPY
            clashes.append({"?"})
            raise
        clashes.extend([found] if found else [])
        return found

    monkeypatch.setattr(batch, "write_plans", watched)
    times, expected, expected_counts = run(db, bulk=False)
    assert len(times) > 20
    wipe(db)
    _, actual, counts = run(db, bulk=True, times=times)
    assert len(clashes) == 1  # the rewound case: rolled back, then one by one
    one_by_one = sum(c[3] for c in counts)
    advanced = sum(c[0] for c in counts)
    assert 0 < one_by_one < advanced / 3  # both paths ran; most cases went in bulk
    for at, want, got in zip(times, expected, actual, strict=True):
        for part in ("cases", "deliveries", "events"):
            assert got[part] == want[part], f"{part} differ after the tick at {at.isoformat()}"
    assert [c[:3] for c in counts] == [c[:3] for c in expected_counts]
    final = expected[-1]
    # the scenario covers what it claims to
    kinds = {e["kind"] for e in final["events"]}
    assert {"step_done", "step_skipped", "recipient_skipped", "resolved", "exhausted"} <= kinds
    assert {"delivery_bounced", "outcome", "paused"} & kinds
    assert {d["channel"] for d in final["deliveries"]} == {"email", "sms", "call", "call_task"}
    assert {d["error_code"] for d in final["deliveries"]} >= {"suppressed", None}
    assert any(d["content"].get("requested_recipient") for d in final["deliveries"])
    reasons = {e["reason"] for e in final["events"] if e["kind"] == "resolved"}
    assert {
        "verdict rechecked before the next step; verdict is compliant",
        "verdict rechecked before the next step; vendor inactive",
        "verdict rechecked before the next step; verdict is non_compliant: switching to deficient",
        "the vendor is compliant",
    } <= reasons


@pytest.mark.parametrize("bulk", [True, False])
def test_planned_rows_are_rendered_when_sent(use_db: Engine, bulk: bool) -> None:
    from comms.dispatch import deliver
    from comms.tokens import verify_token

    with Session(use_db) as s:
        add_vendor(s)
    at = datetime(2026, 12, 16, 14, 0, tzinfo=UTC)
    result = one_tick(use_db, at, bulk=bulk)
    assert result.steps == 1 and len(result.deliveries) == 2
    with Session(use_db) as s:
        rows = s.exec(orm_select(Delivery).order_by(col(Delivery.id))).all()
    assert [r.subject for r in rows] == [None, None]  # planned, not rendered
    assert all(r.content["render"]["pending"] for r in rows)
    for row in rows:
        done = deliver(row.id or 0, now=at + timedelta(minutes=1), engine=use_db)
        assert done is not None and done.status == "sent", done
    with Session(use_db) as s:
        sent = s.exec(orm_select(Delivery).order_by(col(Delivery.id))).all()
    for row in sent:
        assert row.subject and row.body_text and row.body_html
        assert "Acme Roofing" in row.body_text
        assert row.content["render"]["pending"] is False
        assert row.message_id and row.reply_token
        ids = verify_token(row.reply_token, get_settings().signing_key())
        assert ids is not None and (ids.case_id, ids.delivery_id) == (row.case_id, row.id)
    outbox = get_settings().effective_outbox_dir
    assert sorted(p.name for p in outbox.rglob("*.eml")) == sorted(f"{r.id}.eml" for r in sent)


def test_a_row_that_cannot_be_rendered_fails_instead_of_sending(use_db: Engine) -> None:
    from comms.dispatch import deliver
    from comms.email.compose import deferred_email
    from comms.outbox import create_delivery

    at = datetime(2026, 12, 16, 14, 0, tzinfo=UTC)
    with Session(use_db) as s:
        vendor = add_vendor(s)
        new, reason = deferred_email(
            idempotency_key="k-bad",
            template="no_such_template",
            vendor=vendor,
            agent=None,
            recipient_kind="vendor",
            now=at,
            settings=get_settings(),
            vendor_id=vendor.id,
            case_id=None,
            step=None,
        )
        assert reason is None
        row, _ = create_delivery(s, new, now=at)
        s.commit()
        delivery_id = row.id or 0
    done = deliver(delivery_id, now=at, engine=use_db)
    assert done is not None and done.status == "failed" and done.error_code == "render_error"
    assert "no_such_template" in (done.error or "")
    assert list(get_settings().effective_outbox_dir.rglob("*.eml")) == []
