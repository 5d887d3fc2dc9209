"""Web hardening: security headers on every response, the API documentation for signed-in
staff only, the staff API's `limit` validated, slow clients cut off (bounded in time)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from comms.app.http_protocol import uvicorn_options
from comms.app.web import create_app
from comms.settings import Settings, get_settings
from tests.support.services import free_port
from tests.workspace.conftest import PAGE, Clock, sign_in

TOKEN = "a-staff-token-0123456789"


def test_security_headers_on_pages_api_and_static(app_client: TestClient) -> None:
    page = app_client.get("/login", headers=PAGE)
    health = app_client.get("/healthz")
    static = app_client.get("/static/htmx.min.js")
    for response in (page, health, static):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "strict-transport-security" not in response.headers  # http
        assert "server" not in response.headers
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    assert page.headers["cache-control"] == "no-store"
    assert health.headers["cache-control"] == "no-store"
    assert static.headers.get("cache-control") != "no-store"


def test_hsts_when_the_public_url_is_https(roster: Engine, clock: Clock) -> None:
    settings = get_settings().model_copy(update={"public_url": "https://coi.example.com"})
    app = create_app(settings, engine=roster, clock=clock, enqueue=lambda *_: None)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        response = client.get("/healthz")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


def test_api_docs_for_signed_in_staff_only(app_client: TestClient) -> None:
    assert app_client.get("/api/openapi.json").status_code == 401
    assert app_client.get("/api/docs").status_code == 401
    sign_in(app_client)
    spec = app_client.get("/api/openapi.json")
    assert spec.status_code == 200 and "/api/tasks" in spec.json()["paths"]
    docs = app_client.get("/api/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert docs.headers["cache-control"] == "no-store"


def test_staff_api_limit_is_validated(roster: Engine, clock: Clock) -> None:
    settings = get_settings().model_copy(update={"staff_tokens": {"ann": SecretStr(TOKEN)}})
    app = create_app(settings, engine=roster, clock=clock, enqueue=lambda *_: None)
    auth = {"authorization": f"Bearer {TOKEN}"}
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        for bad in ("-1", "0", str(10**12), "many"):
            response = client.get(f"/api/tasks?limit={bad}", headers=auth)
            assert response.status_code == 422, (bad, response.text)
            assert "Traceback" not in response.text
        assert client.get("/api/tasks?limit=5", headers=auth).status_code == 200


class _Served:
    def __init__(
        self, settings: Settings, roster: Engine, clock: Clock, parser: str = "auto"
    ) -> None:
        app = create_app(settings, engine=roster, clock=clock, enqueue=lambda *_: None)
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                log_config=None,  # (uvicorn's own would stop its loggers propagating)
                timeout_graceful_shutdown=1,
                **uvicorn_options(settings, parser),
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return sock


def _closed_within(sock: socket.socket, seconds: float, drip: bytes = b"") -> bool:
    """Drip `drip` a byte every 0.2 s; True when the server closes the connection in time."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.2)
    sent = 0
    while time.monotonic() < deadline:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            data = None
        except OSError:
            return True
        if data == b"" or (data and b"HTTP/1.1 408" in data):
            return True
        if drip:
            try:
                sock.send(drip[sent % len(drip) : sent % len(drip) + 1])
            except OSError:
                return True
            sent += 1
    return False


PARSERS = ["h11", "httptools"]


@pytest.fixture(params=PARSERS)
def guarded(roster: Engine, clock: Clock, request: pytest.FixtureRequest) -> Iterator[_Served]:
    settings = get_settings().model_copy(
        update={"web_header_timeout": 1.0, "web_body_timeout": 1.0, "web_max_connections": 100}
    )
    with _Served(settings, roster, clock, request.param) as served:
        yield served


def test_slow_clients_are_cut_off(guarded: _Served) -> None:
    """Connections that send nothing, drip their headers or drip their body are closed after
    the timeouts (1 s here), while a normal request is served meanwhile."""
    silent = [guarded.connect() for _ in range(20)]
    dripping = [guarded.connect() for _ in range(20)]
    for sock in dripping:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    body = guarded.connect()
    body.sendall(
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 1000\r\n\r\nname=a"
    )
    normal = guarded.connect()
    normal.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = b""
    normal.settimeout(5)
    while chunk := normal.recv(4096):
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and b"\r\nserver:" not in answer.lower()
    results = [_closed_within(s, 8, b"X-Slow: 1\r\n") for s in dripping]
    results += [_closed_within(s, 8) for s in silent]
    assert all(results), results.count(False)
    assert _closed_within(body, 8, b"")
    for sock in [*silent, *dripping, body, normal]:
        sock.close()


@pytest.mark.parametrize("parser", PARSERS)
def test_too_many_connections_get_503(roster: Engine, clock: Clock, parser: str) -> None:
    settings = get_settings().model_copy(
        update={"web_header_timeout": 5.0, "web_max_connections": 5}
    )
    with _Served(settings, roster, clock, parser) as served:
        held = [served.connect() for _ in range(5)]
        time.sleep(0.2)
        extra = served.connect()
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        extra.settimeout(5)
        answer = extra.recv(4096)
        assert answer.startswith(b"HTTP/1.1 503"), answer
        for sock in [*held, extra]:
            sock.close()


def test_oversized_headers_close_the_connection(guarded: _Served) -> None:
    """Headers past 16 KiB, sent fast (inside the header timeout), close the connection."""
    sock = guarded.connect()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    filler = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    try:
        for _ in range(40):
            sock.sendall(filler)
    except OSError:
        pass  # closed while sending: what is wanted
    assert _closed_within(sock, 0.9)
    sock.close()
