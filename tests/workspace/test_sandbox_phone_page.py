"""The sandbox phone page's endpoints: no account needed, calls through the app's own
webhooks, keys at each prompt, the desk's calls ringing it, texts and the inbox."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from telephony.models import CallTask, SmsOptOut
from tests.workspace.calls_support import desk_tasks
from tests.workspace.conftest import NOW, PAGE, Clock, sign_in
from tests.workspace.test_calls import _client

JSON = {"X-Sandbox-Phone": "1"}
ACME = "+12125550142"


def test_call_the_ivr_as_a_roster_vendor(roster: Engine, clock: Clock) -> None:
    with _client(roster, clock) as phone:
        page = phone.get("/sandbox/phone", headers=PAGE)
        assert page.status_code == 200 and "Acme Roofing LLC — +12125550142" in page.text
        assert phone.post("/sandbox/phone/call", json={"from": ACME}).status_code == 403
        bad = phone.post("/sandbox/phone/call", json={"from": "nope"}, headers=JSON)
        assert bad.status_code == 422
        first = phone.post("/sandbox/phone/call", json={"from": ACME}, headers=JSON).json()
        said = [x["text"] for x in first["lines"] if x["kind"] == "say"]
        assert any("Acme Roofing" in s for s in said) and first["waiting"], first
        again = phone.post(
            "/sandbox/phone/press", json={"sid": first["sid"], "keys": "9"}, headers=JSON
        ).json()
        assert again["waiting"] and any("Acme Roofing" in x["text"] for x in again["lines"])
        done = phone.post(
            "/sandbox/phone/press", json={"sid": first["sid"], "keys": "1"}, headers=JSON
        ).json()
        assert done["ended"] and "agent again" in " ".join(x["text"] for x in done["lines"])
        assert done["failures"] == []


def test_texts_and_the_inbox(roster: Engine, clock: Clock) -> None:
    with _client(roster, clock) as phone:
        sent = phone.post(
            "/sandbox/phone/text", json={"from": ACME, "body": "STOP"}, headers=JSON
        ).json()
        assert sent["status"] == 200
        inbox = phone.get(f"/sandbox/phone/inbox?number={ACME}").json()
        assert inbox["items"][0]["kind"] == "text sent" and inbox["items"][0]["text"] == "STOP"
    with Session(roster) as s:
        assert s.exec(select(SmsOptOut)).one().phone == ACME


def test_a_desk_call_rings_the_sandbox_phone(roster: Engine, clock: Clock) -> None:
    ids = desk_tasks(roster, NOW)
    task_id = ids["Delta HVAC"]
    number = "+19175550177"
    with _client(roster, clock) as carl, _client(roster, clock) as phone:
        csrf = sign_in(carl, "carl")
        carl.post(f"/calls/{task_id}/claim", data={"csrf": csrf})
        carl.post(f"/calls/{task_id}/call", data={"csrf": csrf})
        ringing = phone.get(f"/sandbox/phone/inbox?number={number}").json()["ringing"]
        assert ringing == [{"kind": "desk", "id": task_id, "label": "Call desk (carl)"}]
        answered = phone.post(
            "/sandbox/phone/answer",
            json={"number": number, "kind": "desk", "id": task_id},
            headers=JSON,
        ).json()
        assert "Connected to carl" in answered["lines"][0]["text"]
        screen = carl.get(f"/calls/{task_id}", headers=PAGE).text
        assert "answered by human" in screen
    with Session(roster) as s:
        task = s.get(CallTask, task_id)
        assert task is not None and task.outcome_data["call"]["status"] == "answered"
