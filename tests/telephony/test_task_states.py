"""Call tasks as a state machine: reservations that end by themselves, release, wrap-up kept
with its caller, exactly one of concurrent completes applied, one call per person with an
outcome per vendor, wrong numbers."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from comms import dispatch
from comms.app.cli import app as cli
from comms.models import Agent, AuditLog, Case, CaseEvent, Vendor
from comms.outbox import NewDelivery, create_delivery
from comms.settings import get_settings
from comms.stored_verdicts import org_day, refresh
from telephony import desk, task_states
from telephony.call_script import COMPLIANT_WHY, render_script, resolvable_why
from telephony.models import CallTask
from telephony.task_states import TaskConflict
from telephony.tasks import Disposition, TaskError, claim_task, complete_task, list_tasks
from tests.support import factory
from tests.telephony.conftest import (
    AGENT_PHONE,
    AppServer,
    Clock,
    World,
    make_world,
    staff_headers,
)

MIN = timedelta(minutes=1)


def _call_task(
    engine: Engine, now: datetime, vendor: Vendor, case: Case, *, to_agent: bool = True
) -> CallTask:
    with Session(engine) as s:
        row, _ = create_delivery(
            s,
            NewDelivery(
                idempotency_key=f"task-{vendor.id}-{to_agent}",
                channel="call_task",
                recipient=AGENT_PHONE if to_agent else (vendor.phone or ""),
                recipient_kind="agent" if to_agent else "vendor",
                template="call_agent" if to_agent else "call_vendor",
                vendor_id=vendor.id,
                case_id=case.id,
                step="agent_call_task",
            ),
            now=now,
        )
        s.commit()
        delivery_id = row.id
    assert dispatch.deliver(delivery_id or 0, now=now, engine=engine) is not None
    with Session(engine) as s:
        return next(
            t
            for t in s.exec(select(CallTask)).all()
            if any(i.get("delivery_id") == delivery_id for i in t.items)
        )


def _world_task(engine: Engine, now: datetime) -> tuple[World, CallTask]:
    with Session(engine) as s:
        world = make_world(s, now)
    return world, _call_task(engine, now, world.vendor, world.case)


def _script(s: Session, task: CallTask, now: datetime) -> str:
    return render_script(
        s,
        task.items,
        target_kind=task.target_kind,
        target_name=task.target_name,
        phone=task.phone,
        now=now,
        settings=get_settings(),
    )


def test_a_reservation_ends_by_itself(use_db: Engine, clock: Clock) -> None:
    _, task = _world_task(use_db, clock.now)
    t0 = clock.now
    with Session(use_db, expire_on_commit=False) as s:
        held = claim_task(s, task.id or 0, by="ann", now=t0)
        assert held.reserved_until == t0 + 15 * MIN  # COMMS_CALL_RESERVATION_MINUTES
        with pytest.raises(TaskConflict, match="claimed by ann"):
            claim_task(s, task.id or 0, by="bob", now=t0 + 14 * MIN)
        assert list_tasks(s, now=t0 + 14 * MIN) == []
        # the reservation has ended: the task is in the queue again, nobody wrote anything
        assert [t.id for t in list_tasks(s, now=t0 + 15 * MIN)] == [task.id]
        bob = claim_task(s, task.id or 0, by="bob", now=t0 + 15 * MIN)
        assert bob.claimed_by == "bob"
        with pytest.raises(TaskConflict):  # ann's ended reservation is not hers to complete
            complete_task(s, task.id or 0, "resolved", by="ann", now=t0 + 16 * MIN)
        # the sweep writes ended reservations back to open
        assert task_states.expire_reservations(s, now=t0 + 29 * MIN) == 0
        assert task_states.expire_reservations(s, now=t0 + 30 * MIN) == 1
        row = s.get(CallTask, task.id)
        assert row is not None and row.status == "open" and row.claimed_by is None


def test_release_gives_it_back(use_db: Engine, clock: Clock) -> None:
    _, task = _world_task(use_db, clock.now)
    with Session(use_db, expire_on_commit=False) as s:
        claim_task(s, task.id or 0, by="ann", now=clock.now)
        with pytest.raises(TaskConflict):
            task_states.release(s, task.id or 0, by="bob", now=clock.now)
        released = task_states.release(s, task.id or 0, by="ann", now=clock.now)
        assert released.status == "open" and released.claimed_by is None
        assert claim_task(s, task.id or 0, by="bob", now=clock.now).claimed_by == "bob"
        actions = s.exec(select(AuditLog.action).order_by(col(AuditLog.id))).all()
        assert actions[-3:] == ["call_task.claim", "call_task.release", "call_task.claim"]


def test_wrap_up_stays_with_its_caller_and_needs_a_disposition(
    use_db: Engine, clock: Clock
) -> None:
    world, task = _world_task(use_db, clock.now)
    t0 = clock.now
    with Session(use_db, expire_on_commit=False) as s:
        claim_task(s, task.id or 0, by="ann", now=t0)
        wrapping = task_states.start_wrapup(s, task.id or 0, by="ann", now=t0 + MIN)
        assert wrapping.status == "wrapping"
        # long after the reservation would have ended, it is still ann's
        later = t0 + 3 * timedelta(hours=1)
        assert list_tasks(s, now=later) == []
        with pytest.raises(TaskConflict, match="wrapping by ann"):
            claim_task(s, task.id or 0, by="bob", now=later)
        with pytest.raises(TaskConflict):
            task_states.release(s, task.id or 0, by="ann", now=later)
        with pytest.raises(TaskError, match="date promised is required"):
            complete_task(s, task.id or 0, "promised", by="ann", now=later)
        with pytest.raises(TaskError, match="outcome must be one of"):
            complete_task(s, task.id or 0, "", by="ann", now=later)
        assert s.get(CallTask, task.id).status == "wrapping"  # type: ignore[union-attr]
        # a lead hands it to bob; it stays wrapping
        moved = task_states.reassign(s, task.id or 0, to="bob", by="lead", now=later)
        assert moved.status == "wrapping" and moved.claimed_by == "bob"
        done = complete_task(
            s, task.id or 0, "promised", by="bob", now=later, promised=date(2026, 11, 20)
        )
        assert done.status == "done" and done.items[0]["outcome"] == "promised"
    with Session(use_db) as s:
        case = s.get(Case, world.case.id)
        assert case is not None and case.last_outcome == "promised"
        assert case.snoozed_until is not None and case.snoozed_until.date() == date(2026, 11, 21)


@pytest.mark.parametrize("same_staff", [True, False])
def test_concurrent_completes_apply_once(use_db: Engine, clock: Clock, same_staff: bool) -> None:
    world, task = _world_task(use_db, clock.now)
    with Session(use_db, expire_on_commit=False) as s:
        claim_task(s, task.id or 0, by="ann", now=clock.now)
    results: list[str] = []
    barrier = threading.Barrier(3)

    def complete(name: str) -> None:
        with Session(use_db, expire_on_commit=False) as s:
            barrier.wait()
            try:
                complete_task(s, task.id or 0, "voicemail_left", by=name, now=clock.now)
                results.append("applied")
            except TaskConflict:
                results.append("conflict")
            except Exception as exc:  # SQLite: a writer that could not get the lock
                results.append(type(exc).__name__)

    names = ["ann"] * 3 if same_staff else ["ann", "bob", "cy"]
    threads = [threading.Thread(target=complete, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("applied") == 1, results
    with Session(use_db) as s:
        outcomes = s.exec(
            select(CaseEvent).where(
                CaseEvent.case_id == world.case.id, col(CaseEvent.kind).like("%outcome%")
            )
        ).all()
        assert len(outcomes) == 1, [(e.kind, e.reason) for e in outcomes]
        audits = s.exec(select(AuditLog).where(AuditLog.action == "call_task.complete")).all()
        assert len(audits) == 1


def test_one_call_for_an_agent_with_three_vendors(use_db: Engine, clock: Clock) -> None:
    now = clock.now
    with Session(use_db) as s:
        agent = factory.agent(s, name="Sarah Kim", agency="Kim Insurance", phone=AGENT_PHONE)
        profile = factory.profile(s)
        worlds = []
        for i, name in enumerate(["Bayside Electrical", "Evans Painting", "Harbor Glass"]):
            vendor = factory.vendor(
                s,
                name=name,
                email=f"v{i}@x.test",
                phone=f"+1212555020{i}",
                profile=profile,
                agent=agent,
            )
            factory.cover(
                s,
                vendor,
                received_at=now - timedelta(days=300),
                expires=date(2026, 11, 20),
                effective=date(2025, 11, 20),
            )
            case = factory.case(s, vendor, now=now, workflow="expiring", step_index=4)
            worlds.append((vendor, case))
        s.commit()
        for vendor, case in worlds:
            s.refresh(vendor)
            s.refresh(case)
    tasks = {_call_task(use_db, now, v, c).id for v, c in worlds}
    assert len(tasks) == 1
    with Session(use_db, expire_on_commit=False) as s:
        [task] = s.exec(select(CallTask)).all()
        assert [i["vendor_name"] for i in task.items] == [
            "Bayside Electrical",
            "Evans Painting",
            "Harbor Glass",
        ]
        script = task.script
        assert (
            "One call about 3 vendors: Bayside Electrical, Evans Painting, Harbor Glass." in script
        )
        for n, name in enumerate(["Bayside Electrical", "Evans Painting", "Harbor Glass"], 1):
            assert f"## {n} of 3: {name}" in script
        assert script.count("General liability expires on November 20, 2026") == 3
        s.commit()  # SQLite: the command needs the database
        listed = CliRunner().invoke(cli, ["tasks", "list", "--now", now.isoformat()])
        assert listed.exit_code == 0, listed.output
        assert "call agent Sarah Kim at +12125550177" in listed.output
        assert "vendors: Bayside Electrical, Evans Painting, Harbor Glass" in listed.output
        assert "why: Bayside Electrical: the certificate expires soon" in listed.output
        claim_task(s, task.id or 0, by="ann", now=now)
        ids = [v.id or 0 for v, _ in worlds]
        done = complete_task(
            s,
            task.id or 0,
            "reached",
            by="ann",
            now=now,
            per_vendor={
                ids[0]: Disposition("promised", promised=date(2026, 11, 12)),
                ids[1]: Disposition("renewal_on_way"),
                ids[2]: Disposition("resolved"),
            },
        )
        assert [i["outcome"] for i in done.items] == ["promised", "renewal_on_way", "resolved"]
    with Session(use_db) as s:
        outcomes = [s.get(Case, c.id).last_outcome for _, c in worlds]  # type: ignore[union-attr]
        assert outcomes == ["promised", "renewal_on_way", "resolved"]


def test_wrong_number_needs_the_new_number_or_stops_dialing(use_db: Engine, clock: Clock) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    task = _call_task(use_db, clock.now, world.vendor, world.case, to_agent=False)
    with Session(use_db, expire_on_commit=False) as s:
        claim_task(s, task.id or 0, by="ann", now=clock.now)
        with pytest.raises(TaskError, match="give the new number"):
            complete_task(s, task.id or 0, "wrong_number", by="ann", now=clock.now)
    runner = CliRunner()
    bad = runner.invoke(
        cli,
        [
            "tasks",
            "complete",
            str(task.id),
            "wrong_number",
            "--by",
            "ann",
            "--now",
            clock.now.isoformat(),
        ],
    )
    assert bad.exit_code == 2 and "--no-number" in bad.output
    ok = runner.invoke(
        cli,
        [
            "tasks",
            "complete",
            str(task.id),
            "wrong_number",
            "--by",
            "ann",
            "--no-number",
            "--now",
            clock.now.isoformat(),
        ],
    )
    assert ok.exit_code == 0, ok.output
    with Session(use_db) as s:
        vendor = s.get(Vendor, world.vendor.id)
        assert vendor is not None and vendor.phone_invalid  # no longer dialed
        row = s.get(CallTask, task.id)
        assert row is not None and row.items[0]["outcome_data"]["no_number_given"] is True


def test_an_agent_wrong_number_changes_the_agent_not_the_vendor(
    use_db: Engine, clock: Clock
) -> None:
    world, task = _world_task(use_db, clock.now)
    with Session(use_db, expire_on_commit=False) as s:
        claim_task(s, task.id or 0, by="ann", now=clock.now)
        complete_task(
            s, task.id or 0, "wrong_number", by="ann", now=clock.now, phone="(415) 555-2671"
        )
    with Session(use_db) as s:
        agent = s.get(Agent, world.agent.id)
        vendor = s.get(Vendor, world.vendor.id)
        assert agent is not None and agent.phone == "+14155552671"
        assert vendor is not None and vendor.phone == world.vendor.phone


def test_claim_next_takes_the_most_urgent_and_never_one_task_twice(
    use_db: Engine, clock: Clock
) -> None:
    now = clock.now
    with Session(use_db) as s:
        for i in range(12):
            s.add(
                CallTask(
                    target_name=f"T{i}",
                    phone=f"+1212555030{i % 10}",
                    reason="workflow",
                    priority=1 if i == 7 else 3,
                    due_at=now - (12 - i) * MIN,
                    created_at=now,
                    updated_at=now,
                )
            )
        s.add(
            CallTask(
                target_name="later", priority=1, due_at=now + MIN, created_at=now, updated_at=now
            )
        )
        s.commit()
    with Session(use_db, expire_on_commit=False) as s:
        first = task_states.claim_next(s, by="lead", now=now)
        assert first is not None and first.target_name == "T7"  # priority first
        again = task_states.claim_next(s, by="lead", now=now)
        assert again is not None and again.id == first.id  # the one already held
    got: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def caller(name: str) -> None:
        with Session(use_db, expire_on_commit=False) as s:
            barrier.wait()
            for _ in range(3):
                try:
                    task = task_states.claim_next(s, by=name, now=now)
                except Exception:  # SQLite: a writer that could not get the lock
                    s.rollback()
                    continue
                if task is None:
                    return
                with lock:
                    got.append(task.id or 0)
                s.execute(
                    CallTask.__table__.update()  # type: ignore[attr-defined]
                    .where(CallTask.__table__.c.id == task.id)  # type: ignore[attr-defined]
                    .values(status="done")
                )
                s.commit()

    threads = [threading.Thread(target=caller, args=(f"c{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(set(got)) and got  # never one task to two callers
    with Session(use_db) as s:
        later = s.exec(select(CallTask).where(CallTask.target_name == "later")).one()
        assert later.status == "open"  # not due yet


def test_api_second_complete_is_409_and_stats(use_db: Engine, app: AppServer, clock: Clock) -> None:
    _, task = _world_task(use_db, clock.now)
    with httpx.Client(base_url=app.url, headers=staff_headers("ann")) as ann:
        assert ann.post(f"/api/tasks/{task.id}/claim", json={}).status_code == 200
        assert ann.post(f"/api/tasks/{task.id}/wrap", json={}).json()["status"] == "wrapping"
        body = {"outcome": "wrong_number"}
        assert ann.post(f"/api/tasks/{task.id}/complete", json=body).status_code == 422
        body = {"outcome": "no_answer"}
        assert ann.post(f"/api/tasks/{task.id}/complete", json=body).status_code == 200
        second = ann.post(f"/api/tasks/{task.id}/complete", json=body)
        assert second.status_code == 409 and "is done" in second.json()["detail"]
        stats = ann.get("/api/tasks/stats").json()
        assert stats["outcomes_today"] == {"no_answer": 1} and stats["waiting"] == 0


def test_a_script_says_why_by_todays_verdict_and_lists_only_what_was_done(
    use_db: Engine, clock: Clock
) -> None:
    """A case opened as "expiring" whose policies have since expired is about an expired
    certificate; steps passed over because the case opened after their time are not history."""
    now = clock()
    with Session(use_db, expire_on_commit=False) as s:
        agent = factory.agent(s, name="Pat Producer", phone=AGENT_PHONE)
        vendor = factory.vendor(
            s, name="Delta HVAC", phone="+12125550233", profile=factory.profile(s), agent=agent
        )
        factory.cover(
            s,
            vendor,
            received_at=now - timedelta(days=400),
            expires=(now - timedelta(days=30)).date(),
            effective=(now - timedelta(days=395)).date(),
        )
        case = factory.case(s, vendor, now=now, workflow="expiring", step_index=4)
        for kind, step, reason in (
            ("step_skipped", "renewal_request", "the case opened after this step's time"),
            ("opened", None, "scheduler scan"),
            ("step_done", "expired_notice", "email to vendor"),
        ):
            s.add(CaseEvent(case_id=case.id or 0, at=now, kind=kind, step=step, reason=reason))
        s.commit()
    task = _call_task(use_db, now, vendor, case)
    assert "Why: the certificate has expired." in task.script, task.script
    assert "expires soon" not in task.script
    assert "expired notice done (email to vendor)" in task.script
    assert "not sent" not in task.script and "renewal request" not in task.script
    assert [i["why"] for i in task.items] == ["the certificate has expired"]


def test_a_vendor_now_compliant_is_called_to_resolve_the_task(use_db: Engine, clock: Clock) -> None:
    """A certificate that makes the vendor compliant arrives after its task was opened: the
    queue's why says it is now compliant and that the task can be resolved, and so does a
    script rendered from then on (not the trigger that opened the case)."""
    now = clock()
    settings = get_settings()
    with Session(use_db, expire_on_commit=False) as s:
        vendor = factory.vendor(
            s, name="Delta HVAC", phone="+12125550233", profile=factory.profile(s)
        )
        factory.cover(
            s,
            vendor,
            received_at=now - timedelta(days=400),
            expires=(now - timedelta(days=30)).date(),
            effective=(now - timedelta(days=395)).date(),
        )
        case = factory.case(s, vendor, now=now, workflow="expiring", trigger="expired")
        s.commit()
    task = _call_task(use_db, now, vendor, case, to_agent=False)
    with Session(use_db, expire_on_commit=False) as s:
        [row] = desk.queue(s, now=now, settings=settings)
        assert row.why == ["the certificate has expired"]
        fresh = s.get(Vendor, vendor.id)
        assert fresh is not None
        later = now + timedelta(minutes=5)
        factory.cover(s, fresh, received_at=later, expires=(now + timedelta(days=300)).date())
        # as the inbound path does when a certificate is accepted
        refresh(s, {vendor.id or 0}, day=org_day(later), now=later, reason="certificate")
        s.commit()
    with Session(use_db, expire_on_commit=False) as s:
        [row] = desk.queue(s, now=later, settings=settings)
        assert row.why == ["the vendor is now compliant: this task can be resolved"]
        script = _script(s, task, later)
        assert f"Why: {resolvable_why(1)}." in script
        assert "expired" not in script.split("Why:")[1][:80]
        assert 'Nothing is missing now: tell them so, and record "resolved".' in script
        assert "Ask when the certificate will be sent" not in script
        claim_task(s, task.id or 0, by="ann", now=later)
        done = complete_task(s, task.id or 0, "resolved", by="ann", now=later)
        assert done.status == "done" and done.outcome == "resolved"


def test_a_call_about_two_vendors_is_resolvable_only_when_both_are_compliant(
    use_db: Engine, clock: Clock
) -> None:
    """One call to an agent about two vendors whose certificates have expired: when one of
    them becomes compliant, the queue and the script say so for that vendor only (by name),
    and not that the task can be resolved; when the other does too, they say the task can be
    resolved."""
    now = clock()
    settings = get_settings()
    names = ["Bayside Electrical", "Evans Painting"]
    with Session(use_db, expire_on_commit=False) as s:
        agent = factory.agent(s, name="Sarah Kim", phone=AGENT_PHONE)
        profile = factory.profile(s)
        worlds = []
        for i, name in enumerate(names):
            vendor = factory.vendor(
                s, name=name, phone=f"+1212555021{i}", profile=profile, agent=agent
            )
            factory.cover(
                s,
                vendor,
                received_at=now - timedelta(days=400),
                expires=(now - timedelta(days=30)).date(),
                effective=(now - timedelta(days=395)).date(),
            )
            worlds.append((vendor, factory.case(s, vendor, now=now, trigger="expired")))
        s.commit()
    [task_id] = {_call_task(use_db, now, v, c).id for v, c in worlds}
    with Session(use_db, expire_on_commit=False) as s:
        found = s.get(CallTask, task_id)
        assert found is not None and len(found.items) == 2
        task = found
        [row] = desk.queue(s, now=now, settings=settings)
        assert row.why == [f"{n}: the certificate has expired" for n in names]

    def becomes_compliant(vendor: Vendor, at: datetime) -> None:
        with Session(use_db, expire_on_commit=False) as s:
            fresh = s.get(Vendor, vendor.id)
            assert fresh is not None
            factory.cover(s, fresh, received_at=at, expires=(now + timedelta(days=300)).date())
            refresh(s, {vendor.id or 0}, day=org_day(at), now=at, reason="certificate")
            s.commit()

    later = now + 5 * MIN
    becomes_compliant(worlds[0][0], later)
    with Session(use_db, expire_on_commit=False) as s:
        [row] = desk.queue(s, now=later, settings=settings)
        assert row.why == [
            f"{names[0]}: {COMPLIANT_WHY}",
            f"{names[1]}: the certificate has expired",
        ]
        script = _script(s, task, later)
        assert "can be resolved" not in " ".join(row.why) + script
        assert f"Why: {COMPLIANT_WHY}." in script
        assert (
            f'Nothing is missing now for {names[0]}: tell them so, and record "resolved" for it.'
            in script
        )
        assert script.count("Why: the certificate has expired.") == 1

    latest = later + 5 * MIN
    becomes_compliant(worlds[1][0], latest)
    with Session(use_db, expire_on_commit=False) as s:
        [row] = desk.queue(s, now=latest, settings=settings)
        [why] = row.why
        assert (
            why == resolvable_why(2) == "all 2 vendors are now compliant: this task can be resolved"
        )
        script = _script(s, task, latest)
        assert script.count(f"Why: {COMPLIANT_WHY}.") == 2
        assert script.rstrip().endswith(
            "All 2 vendors are now compliant: this task can be resolved."
        )


def test_a_scheduler_pass_gives_ended_reservations_back(use_db: Engine, clock: Clock) -> None:
    """`comms tick --now` (the scheduler's pass) writes reservations that have ended back to
    open, as of the `now` it is given, not the wall clock."""
    _, task = _world_task(use_db, clock.now)
    t0 = clock.now
    with Session(use_db) as s:
        claim_task(s, task.id or 0, by="ann", now=t0)

    def state() -> tuple[str, str | None]:
        with Session(use_db) as s:
            row = s.get(CallTask, task.id)
            assert row is not None
            return row.status, row.claimed_by

    early = CliRunner().invoke(cli, ["tick", "--now", (t0 + 14 * MIN).isoformat()])
    assert early.exit_code == 0, early.output
    assert state() == ("claimed", "ann")
    ended = CliRunner().invoke(cli, ["tick", "--now", (t0 + 15 * MIN).isoformat()])
    assert ended.exit_code == 0, ended.output
    assert state() == ("open", None)
