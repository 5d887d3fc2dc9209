"""Live updates: the in-process hub, the `/events` stream over a real server, and events
between processes through PostgreSQL LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import pytest
from sqlalchemy.engine import Engine

from comms.app.workspace.events import Event, EventHub
from comms.app.workspace.pgbridge import PgBridge
from tests.workspace.conftest import PASSWORD, Live


async def test_hub_fans_out_across_threads() -> None:
    hub = EventHub()
    a, b = hub.subscribe(), hub.subscribe()
    threading.Thread(target=hub.publish, args=("dashboard", {"n": 1})).start()
    for sub in (a, b):
        event = await asyncio.wait_for(sub.queue.get(), 5)
        assert event == Event("dashboard", {"n": 1})
    a.close()
    assert hub.listeners == 1
    hub.close()
    assert await asyncio.wait_for(b.queue.get(), 5) is None  # the end of the stream


def test_event_decoding_refuses_junk() -> None:
    assert Event.decode("not json") is None
    assert Event.decode('{"no": "kind"}') is None
    assert Event.decode(Event("x", {"a": 1}).encode()) == Event("x", {"a": 1})


def _signed_in(client: httpx.Client) -> None:
    page = client.get("/login")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    response = client.post("/login", data={"name": "ann", "password": PASSWORD, "csrf": csrf})
    assert response.status_code in (200, 303), response.text


def test_events_stream_over_a_real_server(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=10) as client:
        assert client.get("/events").status_code == 401
        _signed_in(client)
        with client.stream("GET", "/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines).startswith("retry:")
            deadline = time.monotonic() + 5
            while live.app.state.workspace.hub.listeners == 0:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            live.publish("dashboard", {"why": "test"})
            got: list[str] = []
            while not got or not got[-1].startswith("data: "):
                got.append(next(lines))
    assert "event: dashboard" in got
    data = got[-1]
    assert json.loads(data.removeprefix("data: ")) == {"kind": "dashboard", "data": {"why": "test"}}


@pytest.mark.postgres
async def test_events_travel_between_processes_through_postgres(pg_db: Engine) -> None:
    """Two hubs (two web processes) on one database: an event published by one reaches the
    tabs of both."""
    hubs = [EventHub(), EventHub()]
    bridges = [PgBridge(pg_db, hub) for hub in hubs]
    for bridge in bridges:
        bridge.start()
    try:
        for bridge in bridges:
            assert await asyncio.to_thread(bridge.listening.wait, 10)
        subs = [hub.subscribe() for hub in hubs]
        await asyncio.to_thread(hubs[0].publish, "review", {"certificate": 7})
        for sub in subs:
            event = await asyncio.wait_for(sub.queue.get(), 10)
            assert event == Event("review", {"certificate": 7})
    finally:
        for bridge in bridges:
            bridge.close()
