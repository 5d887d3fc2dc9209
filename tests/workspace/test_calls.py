"""The call desk over HTTP: the queue with reasons and the callee's time, claims the server
enforces, reservations that end, the wrap-up that must be saved, the figures."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms.app.web import create_app
from comms.models import Case, Vendor
from comms.settings import get_settings
from telephony.models import CallTask
from tests.workspace.calls_support import desk_tasks
from tests.workspace.conftest import NOW, PAGE, Clock, sign_in


def _client(roster: Engine, clock: Clock) -> TestClient:
    app = create_app(get_settings(), engine=roster, clock=clock, enqueue=lambda *_: None)
    return TestClient(app, base_url="http://127.0.0.1")


def test_the_queue_for_callers_only(roster: Engine, clock: Clock) -> None:
    ids = desk_tasks(roster, NOW)
    with _client(roster, clock) as carl, _client(roster, clock) as ann:
        sign_in(carl, "carl")
        page = carl.get("/calls", headers=PAGE)
        assert page.status_code == 200
        rows = re.findall(r'<tr data-task="(\d+)"', page.text)
        # priority first, then the longest waiting: Dana Broker's call, then Delta HVAC's
        assert rows == [str(ids["Dana Broker"]), str(ids["Delta HVAC"])]
        assert "Acme Roofing LLC, Cedar Plumbing" in page.text
        assert "the certificate has expired" in page.text
        assert "12:00 PM EST" in page.text and "inside calling hours" in page.text
        assert "(212) 555-0199" not in page.text and "+12125550199" in page.text
        sign_in(ann, "ann")
        assert ann.get("/calls", headers=PAGE).status_code == 403


def test_two_callers_and_one_task(seeded: Engine, clock: Clock) -> None:
    roster = seeded  # with a certificate of Acme Roofing's under review
    ids = desk_tasks(roster, NOW)
    task_id = ids["Dana Broker"]
    with _client(roster, clock) as carl, _client(roster, clock) as ada:
        carl_csrf, ada_csrf = sign_in(carl, "carl"), sign_in(ada, "ada")
        taken = carl.post("/calls/next", data={"csrf": carl_csrf}, follow_redirects=False)
        assert taken.headers["location"] == f"/calls/{task_id}"
        refused = ada.post(f"/calls/{task_id}/claim", data={"csrf": ada_csrf}, headers=PAGE)
        assert refused.status_code == 409 and "claimed by carl" in refused.text
        # ada's "next" skips it
        other = ada.post("/calls/next", data={"csrf": ada_csrf}, follow_redirects=False)
        assert other.headers["location"] == f"/calls/{ids['Delta HVAC']}"
        screen = carl.get(f"/calls/{task_id}", headers=PAGE).text
        assert "One call about 2 vendors: Acme Roofing LLC, Cedar Plumbing." in screen
        assert 'id="wrapup"' in screen and "Certificates on file" in screen
        # Acme Roofing is compliant now, Cedar Plumbing is not: said per vendor, and the task
        # cannot be resolved yet
        why = re.search(r'<p id="why">(.*?)</p>', screen, re.S)
        assert why is not None, screen
        assert why.group(1) == (
            "Why: Acme Roofing LLC: the vendor is now compliant; Cedar Plumbing: the "
            "certificate does not meet the requirements."
        )
        assert "can be resolved" not in screen
        # every certificate listed says what is on it (none ends in a bare colon)
        items = re.findall(r"<li>Certificate \d+ .*?</li>", screen, re.S)
        assert items and not [i for i in items if re.search(r":\s*</li>", i)], items
        assert [i for i in items if "under review, no policy recorded from it yet" in i]
        assert ada.get(f"/calls/{task_id}", headers=PAGE).text.count('id="wrapup"') == 0
        # the reservation ends: the task goes back to the queue by itself
        clock.at = NOW + timedelta(minutes=15)
        assert f'data-task="{task_id}"' in ada.get("/calls/queue", headers=PAGE).text
        with Session(roster) as s:  # and reading the queue wrote it back
            row = s.get(CallTask, task_id)
            assert row is not None and (row.status, row.claimed_by) == ("open", None)
        again = ada.post(f"/calls/{task_id}/claim", data={"csrf": ada_csrf}, headers=PAGE)
        assert again.status_code == 200 and 'id="wrapup"' in again.text


def test_wrap_up_is_required_and_kept(roster: Engine, clock: Clock) -> None:
    ids = desk_tasks(roster, NOW)
    task_id = ids["Delta HVAC"]
    with _client(roster, clock) as carl:
        csrf = sign_in(carl, "carl")
        carl.post(f"/calls/{task_id}/claim", data={"csrf": csrf})
        called = carl.post(f"/calls/{task_id}/call", data={"csrf": csrf}, headers=PAGE)
        assert (
            called.status_code == 200 and "ringing the sandbox phone of +19175550177" in called.text
        )
        missing = carl.post(f"/calls/{task_id}/complete", data={"csrf": csrf}, headers=PAGE)
        assert missing.status_code == 422 and "pick a disposition" in missing.text
        no_date = carl.post(
            f"/calls/{task_id}/complete", data={"csrf": csrf, "outcome": "promised"}, headers=PAGE
        )
        assert no_date.status_code == 422 and "date promised is required" in no_date.text
        # an hour later (long past the reservation), after a reload, it is still carl's
        clock.at = NOW + timedelta(hours=1)
        reloaded = carl.get(f"/calls/{task_id}", headers=PAGE).text
        assert 'id="task-status">wrapping' in reloaded and 'id="wrapup"' in reloaded
        saved = carl.post(
            f"/calls/{task_id}/complete",
            data={"csrf": csrf, "outcome": "promised", "promised": "2026-12-04", "note": "Mon"},
            follow_redirects=False,
        )
        assert saved.status_code == 303
        twice = carl.post(
            f"/calls/{task_id}/complete",
            data={"csrf": csrf, "outcome": "promised", "promised": "2026-12-04"},
            headers=PAGE,
        )
        assert twice.status_code == 409
        stats = carl.get("/calls/stats.json").json()
        assert stats["outcomes_today"] == {"promised": 1}
        assert stats["per_caller_today"] == {"carl": 1}
        assert stats["handle_seconds"]["median"] == 3600
        assert carl.get("/calls/stats", headers=PAGE).status_code == 200
    with Session(roster) as s:
        task = s.get(CallTask, task_id)
        assert task is not None and task.status == "done"
        vendor = s.exec(select(Vendor).where(Vendor.name == "Delta HVAC")).one()
        case = s.exec(select(Case).where(Case.vendor_id == vendor.id)).one()
        assert case.last_outcome == "promised"
        assert (
            case.snoozed_until is not None and case.snoozed_until.date().isoformat() == "2026-12-05"
        )
