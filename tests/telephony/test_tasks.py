"""Call-center tasks: created from call_task deliveries and IVR choices, claimed atomically,
completed with outcomes fed back to the workflow; CLI and JSON API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from comms import dispatch
from comms.app.cli import app as cli
from comms.body_limit import MAX_BODY
from comms.models import Case, CaseEvent, Vendor
from comms.outbox import NewDelivery, create_delivery
from comms.settings import Settings
from telephony.models import CallTask
from telephony.tasks import TaskError, claim_task, complete_task
from tests.telephony.conftest import (
    AGENT_PHONE,
    AppServer,
    Clock,
    World,
    make_world,
    staff_headers,
)


def _task(engine: Engine, clock: Clock, world: World, template: str = "call_agent") -> CallTask:
    with Session(engine) as s:
        row, _ = create_delivery(
            s,
            NewDelivery(
                idempotency_key=f"task-{template}",
                channel="call_task",
                recipient=AGENT_PHONE if template == "call_agent" else "+12125550143",
                recipient_kind="agent" if template == "call_agent" else "vendor",
                template=template,
                vendor_id=world.vendor.id,
                case_id=world.case.id,
                step="agent_call_task" if template == "call_agent" else "expired_call_task",
            ),
            now=clock.now,
        )
        s.add(
            CaseEvent(
                case_id=world.case.id or 0,
                at=clock.now,
                kind="step_sent",
                step="renewal_request",
                reason="email to agent",
            )
        )
        s.commit()
        assert row.id is not None
        delivery_id = row.id
    sent = dispatch.deliver(delivery_id, now=clock.now, engine=engine)
    assert sent is not None and sent.status == "sent"
    with Session(engine) as s:
        task = s.exec(select(CallTask).where(CallTask.delivery_id == delivery_id)).one()
        return task


def test_task_from_workflow_step_has_script(use_db: Engine, clock: Clock) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    task = _task(use_db, clock, world)
    assert task.target_kind == "agent" and task.target_name == "Pat Kim"
    assert task.phone == AGENT_PHONE and task.status == "open" and task.due_at == clock.now
    assert "Acme Plumbing" in task.script and "Pat Kim" in task.script
    assert "November 20, 2026" in task.script
    # the case history, one event per line, in the organization's zone, in words
    assert "- Mon Nov 2, 2026 9:00 AM EST: renewal request sent (email to agent)\n" in task.script
    # a repeated delivery does not make a second task
    with Session(use_db) as s:
        assert len(s.exec(select(CallTask)).all()) == 1


def test_claim_is_atomic(use_db: Engine, clock: Clock) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    task = _task(use_db, clock, world)
    winners: list[str] = []
    errors: list[str] = []
    barrier = threading.Barrier(4)

    def worker(name: str) -> None:
        with Session(use_db, expire_on_commit=False) as s:
            barrier.wait()
            try:
                claim_task(s, task.id or 0, by=name, now=clock.now)
                winners.append(name)
            except TaskError as exc:
                errors.append(str(exc))
            except Exception as exc:  # SQLite: a writer that cannot get the lock
                errors.append(f"{type(exc).__name__}")

    threads = [threading.Thread(target=worker, args=(f"staff{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(errors) == 3
    with Session(use_db) as s:
        row = s.get(CallTask, task.id)
        assert row is not None and row.claimed_by == winners[0] and row.status == "claimed"
        with pytest.raises(TaskError, match="is claimed by"):
            claim_task(s, task.id or 0, by="late", now=clock.now)


def test_outcomes_fed_back(use_db: Engine, clock: Clock) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    task = _task(use_db, clock, world)
    with Session(use_db, expire_on_commit=False) as s:
        with pytest.raises(TaskError, match="is open: cannot complete it for ann"):
            complete_task(s, task.id or 0, "resolved", by="ann", now=clock.now)
        claim_task(s, task.id or 0, by="ann", now=clock.now)
        with pytest.raises(TaskError, match="outcome must be one of"):
            complete_task(s, task.id or 0, "maybe", by="ann", now=clock.now)
        done = complete_task(
            s, task.id or 0, "reached", by="ann", now=clock.now, promised=date(2026, 11, 10)
        )
        assert done.status == "done" and done.outcome_data["date"] == "2026-11-10"
    with Session(use_db) as s:
        case = s.get(Case, world.case.id)
        assert case is not None and case.last_outcome == "promised"
        assert case.snoozed_until is not None and case.snoozed_until.date() == date(2026, 11, 11)


def test_wrong_number_updates_phone(use_db: Engine, clock: Clock) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    task = _task(use_db, clock, world, template="call_vendor")
    assert task.target_kind == "vendor" and "Acme Plumbing" in task.script
    with Session(use_db, expire_on_commit=False) as s:
        claim_task(s, task.id or 0, by="ann", now=clock.now)
        with pytest.raises(TaskError, match="not a valid phone number"):
            complete_task(s, task.id or 0, "wrong_number", by="ann", now=clock.now, phone="12")
        complete_task(
            s, task.id or 0, "wrong_number", by="ann", now=clock.now, phone="(415) 555-2671"
        )
    with Session(use_db) as s:
        vendor = s.get(Vendor, world.vendor.id)
        assert vendor is not None and vendor.phone == "+14155552671"


def test_cli(use_db: Engine, clock: Clock) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    task = _task(use_db, clock, world)
    runner = CliRunner()
    listed = runner.invoke(cli, ["tasks", "list"])
    assert listed.exit_code == 0, listed.output
    assert "Pat Kim" in listed.output
    claimed = runner.invoke(
        cli, ["tasks", "claim", str(task.id), "--by", "ann", "--now", "2026-11-02T15:00:00Z"]
    )
    assert claimed.exit_code == 0, claimed.output
    assert "Acme Plumbing" in claimed.output
    again = runner.invoke(
        cli, ["tasks", "claim", str(task.id), "--by", "bob", "--now", "2026-11-02T15:05:00Z"]
    )
    assert again.exit_code == 2 and "claimed by ann" in again.output
    bad = runner.invoke(
        cli, ["tasks", "complete", str(task.id), "reached", "--by", "ann", "--promised", "soon"]
    )
    assert bad.exit_code == 2 and "--promised" in bad.output
    done = runner.invoke(
        cli,
        [
            "tasks",
            "complete",
            str(task.id),
            "voicemail",
            "--by",
            "ann",
            "--now",
            "2026-11-02T15:05:00Z",
        ],
    )
    assert done.exit_code == 0, done.output
    with Session(use_db) as s:
        case = s.get(Case, world.case.id)
        assert case is not None and case.last_outcome == "voicemail_left"
    optouts = runner.invoke(cli, ["sms-optouts"])
    assert optouts.exit_code == 0, optouts.output


def test_json_api(use_db: Engine, app: AppServer, clock: Clock) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    task = _task(use_db, clock, world)
    with (
        httpx.Client(base_url=app.url, headers=staff_headers("ann")) as ann,
        httpx.Client(base_url=app.url, headers=staff_headers("bob")) as bob,
    ):
        listed = ann.get("/api/tasks").json()
        assert [t["id"] for t in listed] == [task.id]
        assert listed[0]["target_name"] == "Pat Kim"
        claimed = ann.post(f"/api/tasks/{task.id}/claim", json={})
        assert claimed.status_code == 200 and claimed.json()["claimed_by"] == "ann"
        assert bob.post(f"/api/tasks/{task.id}/claim", json={"by": "bob"}).status_code == 409
        bad = ann.post(f"/api/tasks/{task.id}/complete", json={"by": "ann", "outcome": "x"})
        assert bad.status_code == 422
        done = ann.post(f"/api/tasks/{task.id}/complete", json={"outcome": "resolved"})
        assert done.status_code == 200 and done.json()["status"] == "done"
        assert ann.get("/api/tasks").json() == []
        assert ann.get("/api/tasks/999").status_code == 404
    with Session(use_db) as s:
        stored = s.get(CallTask, task.id)
        assert stored is not None and stored.claimed_by == "ann"


def test_json_api_refuses_requests_without_a_staff_token(
    use_db: Engine, app: AppServer, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    task = _task(use_db, clock, world)
    with httpx.Client(base_url=app.url) as http:
        for headers in (
            {},
            {"Authorization": "Bearer"},
            {"Authorization": "Basic YW5uOmFubi10b2tlbg=="},
            {"Authorization": "Bearer ann-token-0123456789abcdeX"},
        ):
            for method, path, body in (
                ("GET", "/api/tasks", None),
                ("GET", f"/api/tasks/{task.id}", None),
                ("POST", f"/api/tasks/{task.id}/claim", {"by": "ann"}),
                ("POST", f"/api/tasks/{task.id}/complete", {"outcome": "resolved"}),
            ):
                r = http.request(method, path, json=body, headers=headers)
                assert r.status_code == 401, (headers, path, r.text)
                assert r.headers["www-authenticate"] == "Bearer"
                assert "Pat Kim" not in r.text
        # a token may not act as someone else
        other = http.post(
            f"/api/tasks/{task.id}/claim", json={"by": "bob"}, headers=staff_headers("ann")
        )
        assert other.status_code == 403 and "ann" in other.json()["detail"]
    with Session(use_db) as s:
        untouched = s.get(CallTask, task.id)
        assert untouched is not None and untouched.status == "open"
        assert untouched.claimed_by is None
    assert "refused an unknown token" in caplog.text
    assert "ann-token" not in caplog.text


async def test_json_api_is_off_without_configured_tokens(
    use_db: Engine, settings: Settings, clock: Clock
) -> None:
    from comms.app.web import create_app

    off = create_app(settings.model_copy(update={"staff_tokens": {}}), engine=use_db, clock=clock)
    transport = httpx.ASGITransport(app=off)
    async with httpx.AsyncClient(transport=transport, base_url="http://comms.test") as http:
        r = await http.get("/api/tasks", headers=staff_headers("ann"))
        assert r.status_code == 503
        assert "COMMS_STAFF_TOKENS" in r.json()["detail"]
        assert (await http.get("/healthz")).status_code == 200


def test_json_api_refuses_an_oversized_body_before_reading_it(
    use_db: Engine, app: AppServer, clock: Clock
) -> None:
    """FastAPI reads a JSON body before the token check runs: the app caps bodies first."""
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    task = _task(use_db, clock, world)
    path = f"/api/tasks/{task.id}/complete"
    with httpx.Client(base_url=app.url) as http:
        big = b'{"outcome": "resolved", "notes": "' + b"x" * (MAX_BODY + 1) + b'"}'
        declared = http.post(path, content=big, headers={"content-type": "application/json"})
        assert declared.status_code == 413

        def chunks() -> Iterator[bytes]:  # no length declared: counted while it arrives
            yield b'{"outcome": "resolved", "notes": "'
            for _ in range(64):
                yield b"x" * 4096
            yield b'"}'

        chunked = http.post(path, content=chunks(), headers={"content-type": "application/json"})
        assert chunked.status_code == 413
        small = http.post(path, json={"outcome": "resolved"})
        assert small.status_code == 401  # a small body reaches the token check
