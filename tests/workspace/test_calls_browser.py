"""The call desk and the sandbox phone in a real browser (Playwright on Debian's Chromium, as
tests/workspace/test_browser.py; `UPDATE_SCREENSHOTS=1` refreshes the README's screenshots): callers racing for a task, a reservation that ends, the
wrap-up kept across a reload, a promised date, a desk call answered on the sandbox phone, an
IVR call from a roster vendor's number, and a STOP text. No console errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from comms import dispatch
from comms.models import Case, Delivery, Vendor
from comms.outbox import NewDelivery, create_delivery
from telephony.models import CallTask, SmsOptOut
from tests.workspace.calls_support import desk_tasks
from tests.workspace.conftest import NOW, Clock, Live
from tests.workspace.test_browser import Tab, browser  # noqa: F401  (its fixture)
from tests.workspace.test_browser_flows import _publish_docs

ACME = "+12125550142"


@pytest.fixture
def tasks(live: Live) -> dict[str, int]:
    return desk_tasks(live.app.state.workspace.engine, NOW)


@pytest.fixture
def tab(browser: Any, live: Live, tmp_path: Path) -> Iterator[Tab]:  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield Tab(context, live, tmp_path)
    context.close()


@pytest.fixture
def two(browser: Any, live: Live, tmp_path: Path) -> Iterator[tuple[Tab, Tab]]:  # noqa: F811
    first = browser.new_context(viewport={"width": 1280, "height": 900})
    second = browser.new_context(viewport={"width": 1280, "height": 900})
    yield Tab(first, live, tmp_path), Tab(second, live, tmp_path)
    first.close()
    second.close()


def _caller(who: Tab, name: str) -> None:
    who.sign_in(name)
    who.go("/calls")


def test_two_callers_race_for_one_task(two: tuple[Tab, Tab], tasks: dict[str, int]) -> None:
    carl, ada = two
    _caller(carl, "carl")
    _caller(ada, "ada")
    task = tasks["Dana Broker"]
    for each in (carl, ada):
        each.go(f"/calls/{task}")
        assert each.page.locator("#claim").count() == 1
    carl.page.click("#claim")
    ada.page.click("#claim")
    carl.page.wait_for_load_state()
    ada.page.wait_for_load_state()
    assert carl.page.locator("#wrapup").count() == 1
    assert "claimed by carl" in ada.page.content()  # the server refused the second claim
    ada.errors.clear()  # the browser notes the 409 page
    # per vendor: Acme Roofing is compliant now, Cedar Plumbing is not, so the task is not
    # resolvable yet; Acme's certificate under review says so
    assert carl.page.inner_text("#why") == (
        "Why: Acme Roofing LLC: the vendor is now compliant; "
        "Cedar Plumbing: the certificate does not meet the requirements."
    )
    assert "can be resolved" not in carl.page.inner_text("body")
    listed = carl.page.locator("section[aria-label='Acme Roofing LLC'] li").all_inner_texts()
    assert any(t.endswith("under review, no policy recorded from it yet") for t in listed), listed
    assert not [t for t in listed if t.rstrip().endswith(":")], listed
    _publish_docs(carl.shot("calls-task"), "call-desk-task.png")
    ada.go("/calls")
    assert ada.page.locator(f'tr[data-task="{task}"]').count() == 0
    assert carl.page_errors() == [] and ada.page_errors() == []


def test_a_reservation_ends_and_the_queue_updates_live(
    two: tuple[Tab, Tab], tasks: dict[str, int], clock: Clock
) -> None:
    carl, ada = two
    _caller(carl, "carl")
    _caller(ada, "ada")
    task = tasks["Dana Broker"]
    assert ada.page.locator(f'tr[data-task="{task}"]').count() == 1
    carl.page.keyboard.press("n")  # the next task: Dana Broker's, the most urgent
    carl.page.wait_for_url(f"**/calls/{task}")
    # ada's queue drops it live (SSE), without a reload
    ada.page.locator(f'tr[data-task="{task}"]').wait_for(state="detached", timeout=10_000)
    clock.at = NOW + timedelta(minutes=15)  # the reservation has ended
    ada.go("/calls")
    assert ada.page.locator(f'tr[data-task="{task}"]').count() == 1
    ada.page.click(f'tr[data-task="{task}"] button')
    ada.page.wait_for_url(f"**/calls/{task}")
    assert ada.page.locator("#wrapup").count() == 1
    carl.go(f"/calls/{task}")
    assert "ada has this task" in carl.page.content()
    assert carl.page_errors() == [] and ada.page_errors() == []


def test_wrap_up_is_required_kept_on_reload_and_a_promise_schedules(
    tab: Tab, tasks: dict[str, int], clock: Clock, live: Live
) -> None:
    task = tasks["Delta HVAC"]
    _caller(tab, "carl")
    tab.go(f"/calls/{task}")
    tab.page.click("#claim")
    tab.page.wait_for_load_state()
    tab.page.keyboard.press("c")  # call
    tab.page.wait_for_load_state()
    assert tab.page.inner_text("#task-status") == "wrapping"
    tab.page.keyboard.press("Enter")  # save without a disposition: refused
    tab.page.wait_for_load_state()
    assert "pick a disposition" in tab.page.inner_text("#error")
    tab.errors.clear()  # the 422 page
    clock.at = NOW + timedelta(hours=2)
    tab.page.reload()
    assert tab.page.inner_text("#task-status") == "wrapping"
    assert tab.page.locator("#wrapup").count() == 1
    tab.page.keyboard.press("2")  # promised a date
    assert tab.page.is_checked('#wrapup input[value="promised"]')
    tab.page.fill("#wrapup input[name=promised]", "2026-12-08")
    tab.page.focus('#wrapup input[value="promised"]')
    tab.page.keyboard.press("Enter")
    tab.page.wait_for_url("**/calls?note=saved")
    assert tab.page_errors() == []
    with Session(live.app.state.workspace.engine) as s:
        vendor = s.exec(select(Vendor).where(Vendor.name == "Delta HVAC")).one()
        case = s.exec(select(Case).where(Case.vendor_id == vendor.id)).one()
        assert case.last_outcome == "promised" and case.state == "waiting"
        assert case.snoozed_until is not None and case.snoozed_until.date() == date(2026, 12, 9)
        assert case.next_action_at is not None and case.next_action_at >= case.snoozed_until


def test_a_desk_call_rings_the_sandbox_phone_and_is_answered(
    two: tuple[Tab, Tab], tasks: dict[str, int]
) -> None:
    carl, phone = two
    task = tasks["Delta HVAC"]
    _caller(carl, "carl")
    carl.go(f"/calls/{task}")
    carl.page.click("#claim")
    carl.page.wait_for_load_state()
    carl.page.click("#call button[type=submit]")
    carl.page.wait_for_load_state()
    assert "ringing the sandbox phone of +19175550177" in carl.page.inner_text("#call-state")
    phone.go("/sandbox/phone")
    phone.page.fill("#number", "+19175550177")
    phone.page.dispatch_event("#number", "change")
    desk = phone.page.locator("#ringing li", has_text="Call desk (carl)")
    desk.wait_for(timeout=10_000)
    desk.locator("button.answer").click()
    phone.page.locator("#transcript li").first.wait_for()
    assert "Connected to carl" in phone.page.inner_text("#transcript")
    carl.page.reload()
    assert "answered by human" in carl.page.inner_text("#call-state")
    assert carl.page_errors() == [] and phone.page_errors() == []


def test_ivr_call_from_the_sandbox_phone_as_a_roster_vendor(tab: Tab, live: Live) -> None:
    tab.go("/sandbox/phone")
    tab.page.select_option("#pick", ACME)
    assert tab.page.input_value("#number") == ACME
    tab.page.click("#dial")
    tab.page.wait_for_selector("body[data-call=waiting]")
    assert "Acme Roofing LLC" in tab.page.inner_text("#transcript")
    tab.page.click('#keypad .key[data-key="9"]')  # hear it again
    tab.page.locator("#transcript li", has_text="waits for keys").nth(1).wait_for()
    assert tab.page.inner_text("#transcript").count("caller presses: 9") == 1
    _publish_docs(tab.shot("sandbox-phone"), "sandbox-phone.png")  # the README's
    tab.page.click('#keypad .key[data-key="1"]')  # send the request to my agent again
    tab.page.wait_for_selector("body[data-call=ended]")
    transcript = tab.page.inner_text("#transcript")
    assert "caller presses: 1" in transcript and "agent again" in transcript
    assert tab.page_errors() == []
    shot = tab.shots / "sandbox-phone.png"
    assert shot.stat().st_size > 10_000


def test_a_stop_text_stops_the_ladders_texts(tab: Tab, live: Live) -> None:
    engine = live.app.state.workspace.engine
    tab.go("/sandbox/phone")
    tab.page.select_option("#pick", ACME)
    tab.page.click(".quick[data-text=STOP]")
    tab.page.locator("#replies", has_text="Sent").wait_for(timeout=10_000)
    tab.page.locator("#inbox li", has_text="text sent").wait_for(timeout=10_000)
    assert tab.page_errors() == []
    with Session(engine) as s:
        assert s.exec(select(SmsOptOut).where(SmsOptOut.phone == ACME)).one().active
        vendor = s.exec(select(Vendor).where(Vendor.phone == ACME)).one()
        row, _ = create_delivery(
            s,
            NewDelivery(
                idempotency_key="ladder-sms",
                channel="sms",
                recipient=ACME,
                template="renewal_reminder",
                vendor_id=vendor.id,
                body_text="Reminder",
            ),
            now=NOW,
        )
        s.commit()
        row_id = row.id or 0
    sent = dispatch.deliver(row_id, now=NOW, engine=engine)
    assert sent is not None and sent.status == "skipped"
    with Session(engine) as s:
        assert s.get(Delivery, row_id).status == "skipped"  # type: ignore[union-attr]
        assert s.exec(select(CallTask)).all() == []
