"""The two appliers of the one planner write what a plan says: the bulk one
(`workflows.batch`, the scheduler's hot path) and the per-case ORM one
(`workflows.engine.advance_case`). The rules themselves are tested once, on records, in
`test_planner.py`; here a batch is planned (nothing written), then advanced by one applier,
and the database must hold exactly the plan's rows, events and case fields.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col
from sqlmodel import select as orm_select

from comms.channels import SendOutcome
from comms.db import session_scope
from comms.models import Agent, Case, CaseEvent, Delivery, Suppression, Vendor
from comms.outbox import apply_outcome, claim
from comms.settings import get_settings
from tests.workflows.conftest import add_certificate, add_vendor
from workflows.batch import BatchOutcome, advance_batch
from workflows.batch_load import load_batch, read_cases
from workflows.calendar import org_date
from workflows.planner import CasePlan, plan_case
from workflows.records import CASE_CHANGES
from workflows.scheduler import TickResult, advance_due, open_scan

FIRST = datetime(2026, 12, 16, 14, 0, tzinfo=UTC)  # 09:00 New York, 30 days before 2027-01-15


def one_tick(engine: Engine, at: datetime, *, bulk: bool, scan: bool = True) -> TickResult:
    settings = get_settings()
    if scan:
        with session_scope(engine) as s:
            open_scan(s, now=at, settings=settings)
    result = TickResult()
    advance_due(engine, now=at, settings=settings, enqueue=None, result=result, batch=4, bulk=bulk)
    return result


def plans_at(engine: Engine, at: datetime) -> dict[int, CasePlan]:
    """The plan of every open case at `at`, nothing written."""
    settings = get_settings()
    with Session(engine) as s:
        ids = list(s.exec(orm_select(Case.id).where(col(Case.next_action_at) <= at)).all())
        records, data = read_cases(s, [i for i in ids if i is not None])
        load_batch(s, records, data, as_of=org_date(at, settings))
        return {c.id: plan_case(c, data, now=at, settings=settings) for c in records}


def advance(engine: Engine, at: datetime, *, bulk: bool) -> BatchOutcome:
    with session_scope(engine) as s:
        return advance_batch(s, now=at, settings=get_settings(), limit=100, bulk=bulk)


def written(engine: Engine, case_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The case's delivery rows and its events (delivery ids as keys), in id order."""
    with Session(engine) as s:
        rows = s.exec(
            orm_select(Delivery).where(Delivery.case_id == case_id).order_by(col(Delivery.id))
        ).all()
        key_of = {r.id: r.idempotency_key for r in rows}
        events = s.exec(
            orm_select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id))
        ).all()
        return (
            [
                {
                    "key": r.idempotency_key,
                    "channel": r.channel,
                    "recipient": r.recipient,
                    "kind": r.recipient_kind,
                    "template": r.template,
                    "content": r.content,
                    "status": r.status,
                    "error_code": r.error_code,
                }
                for r in rows
            ],
            [
                {
                    "kind": e.kind,
                    "step": e.step,
                    "reason": e.reason,
                    "from": e.from_state,
                    "to": e.to_state,
                    "data": {
                        k: [key_of[i] for i in v] if k == "deliveries" else v
                        for k, v in e.data.items()
                    },
                }
                for e in events
            ],
        )


def expected(plan: CasePlan, statuses: dict[str, tuple[str, str | None]]) -> tuple[list[Any], ...]:
    rows = [
        {
            "key": r.planned.new.idempotency_key,
            "channel": r.planned.new.channel,
            "recipient": r.planned.new.recipient,
            "kind": r.planned.new.recipient_kind,
            "template": r.planned.new.template,
            "content": r.planned.new.content,
            "status": statuses[r.planned.new.idempotency_key][0],
            "error_code": statuses[r.planned.new.idempotency_key][1],
        }
        for r in plan.rows
    ]
    events = [
        {
            "kind": e.kind,
            "step": e.step,
            "reason": e.reason,
            "from": e.from_state,
            "to": e.to_state,
            "data": e.data
            if e.deliveries is None
            else {"deliveries": [r.planned.new.idempotency_key for r in e.deliveries], **e.data},
        }
        for e in plan.events
    ]
    return rows, events


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "per-case"])
def test_each_applier_writes_what_the_plan_says(use_db: Engine, bulk: bool) -> None:
    """Three cases in one batch: rows to an agent flagged invalid (skipped recipient), to a
    suppressed address (a `skipped` row) and queued; a case the recheck resolves."""
    with Session(use_db) as s:
        acme = add_vendor(s, name="Acme Roofing LLC")
        muted = add_vendor(s, name="Muted Co")
        gone = add_vendor(s, name="Gone Co")
        agent = s.get(Agent, acme.agent_id)
        assert agent is not None
        agent.email_invalid = True
        s.add(agent)
        s.add(Suppression(channel="email", address=muted.email or "", reason="t", created_at=FIRST))
        s.commit()
        gone_id = gone.id
    with session_scope(use_db) as s:
        open_scan(s, now=FIRST - timedelta(hours=1), settings=get_settings())
    with session_scope(use_db) as s:
        vendor = s.get(Vendor, gone_id)
        assert vendor is not None
        vendor.active = False
        s.add(vendor)
    plans = plans_at(use_db, FIRST)
    assert len(plans) == 3 and all(p.needs is None for p in plans.values())
    out = advance(use_db, FIRST, bulk=bulk)
    assert (out.advanced, out.steps, out.one_by_one) == (3, 2, 0 if bulk else 3)
    statuses: dict[str, tuple[str, str | None]] = {}
    for plan in plans.values():
        for r in plan.rows:
            muted_row = r.planned.new.recipient.startswith("ops@muted")
            statuses[r.planned.new.idempotency_key] = (
                ("skipped", "suppressed") if muted_row else ("queued", None)
            )
    with Session(use_db) as s:
        queued = {d.id for d in s.exec(orm_select(Delivery)).all() if d.status == "queued"}
    assert set(out.deliveries) == queued and len(queued) == 2
    kinds = set()
    for case_id, plan in plans.items():
        with Session(use_db) as s:
            case = s.get(Case, case_id)
            assert case is not None
            fields = {n: getattr(case, n) for n in CASE_CHANGES}
        assert fields == {n: getattr(plan.case, n) for n in CASE_CHANGES}
        got_rows, got_events = written(use_db, case_id)
        opened = [e for e in got_events if e["kind"] == "opened"]
        want_rows, want_events = expected(plan, statuses)
        assert got_rows == want_rows
        assert got_events == opened + want_events
        kinds |= {e["kind"] for e in want_events}
    assert kinds == {"recipient_skipped", "step_done", "resolved"}


def test_the_bulk_applier_sends_a_case_whose_planned_key_exists_one_by_one(use_db: Engine) -> None:
    """Staff moved a case back a step: its rows exist, so the bulk insert clashes; the case
    goes through the per-case applier, which finds the rows and makes none."""
    with Session(use_db) as s:
        add_vendor(s)
    one_tick(use_db, FIRST, bulk=True)
    with session_scope(use_db) as s:
        case = s.exec(orm_select(Case)).one()
        case.step_index -= 1
        case.next_action_at = FIRST + timedelta(hours=1)
        s.add(case)
        before = {d.id for d in s.exec(orm_select(Delivery)).all()}
    out = advance(use_db, FIRST + timedelta(hours=1), bulk=True)
    assert (out.advanced, out.one_by_one, out.steps, out.deliveries) == (1, 1, 1, [])
    with Session(use_db) as s:
        assert {d.id for d in s.exec(orm_select(Delivery)).all()} == before
        done = s.exec(
            orm_select(CaseEvent)
            .where(CaseEvent.kind == "step_done")
            .order_by(col(CaseEvent.id).desc())
        ).first()
        assert done is not None and set(done.data["deliveries"]) == before


def _bounce_vendor_email(engine: Engine, at: datetime) -> None:
    with Session(engine) as s:
        row = s.exec(orm_select(Delivery).where(Delivery.recipient_kind == "vendor")).one()
        s.commit()
        claimed = claim(s, row.id or 0, now=at)
        assert claimed is not None
        apply_outcome(s, claimed, SendOutcome(status="bounced", error="550 no such user"), now=at)
        s.commit()


def _fail_the_profile(engine: Engine, at: datetime) -> None:
    with Session(engine) as s:
        vendor = s.exec(orm_select(Vendor)).one()
        add_certificate(s, vendor, expires=date(2027, 12, 1), limit=1000, at=at)
        s.commit()


@pytest.mark.parametrize(
    ("change", "needs", "then"),
    [
        # the bounce is absorbed as an outcome: on to the first phone step, due now
        (_bounce_vendor_email, "absorb", ["sms_reminder"]),
        # the verdict now calls for a deficient case: it joins this one, whose ladder is now
        # the deficient one, first step due at once (one conversation per vendor)
        (_fail_the_profile, "sync", ["deficiency_notice"]),
    ],
)
def test_the_per_case_applier_does_what_a_plan_stops_for(
    use_db: Engine, change: Callable[[Engine, datetime], None], needs: str, then: list[str]
) -> None:
    with Session(use_db) as s:
        add_vendor(s)
    one_tick(use_db, FIRST, bulk=True)
    at = FIRST + timedelta(hours=2)
    change(use_db, at)
    with session_scope(use_db) as s:
        case = s.exec(orm_select(Case)).one()
        case.next_action_at = at  # due, so that the pass sees the change
        s.add(case)
    (plan,) = plans_at(use_db, at).values()
    assert plan.needs == needs and not plan.events
    out = advance(use_db, at, bulk=True)
    assert out.one_by_one == 1
    with Session(use_db) as s:
        cases = s.exec(orm_select(Case).order_by(col(Case.id))).all()
        steps = s.exec(
            orm_select(CaseEvent.step)
            .where(CaseEvent.kind == "step_done", CaseEvent.at == at)
            .order_by(col(CaseEvent.id))
        ).all()
    assert list(steps) == then
    if needs == "absorb":
        assert [c.state for c in cases] == ["active"] and cases[0].last_outcome == "email_bounced"
    else:
        assert [(c.trigger, c.workflow, c.state) for c in cases] == [
            ("deficient", "deficient", "active")
        ]


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
