"""A Twilio-shaped HTTP server for tests, on a loopback port.

It speaks the parts of the REST API the project uses (POST Messages.json and Calls.json,
POST Calls/{sid}.json to update a live call), checks HTTP basic auth, records every request,
answers like Twilio (201 with sid, status, account_sid, date_created...; Twilio's error JSON
with code/message/more_info/status), and plays Twilio's side of webhooks: it POSTs signed
status callbacks, inbound calls and inbound SMS to the application, signing with twilio's
RequestValidator against the application's public URL.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from twilio.request_validator import RequestValidator

from tests.support.twiml_schema import validate

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "test-auth-token-5f1d2c9a8b7e"


@dataclass
class ApiRequest:
    method: str
    path: str
    params: dict[str, list[str]]
    auth_ok: bool

    def one(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None


@dataclass
class Failure:
    status: int
    code: int
    message: str


@dataclass
class TwilioTestServer:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    requests: list[ApiRequest] = field(default_factory=list)
    failures: dict[str, Failure] = field(default_factory=dict)  # by "To" number
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> TwilioTestServer:
        handler = _handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    # --- what was asked ----------------------------------------------------------------------
    def messages(self) -> list[ApiRequest]:
        return [r for r in self.requests if r.path.endswith("/Messages.json")]

    def calls(self) -> list[ApiRequest]:
        return [r for r in self.requests if r.path.endswith("/Calls.json")]

    def call_updates(self) -> list[ApiRequest]:
        return [r for r in self.requests if "/Calls/CA" in r.path]

    def fail_to(self, number: str, *, status: int, code: int, message: str) -> None:
        self.failures[number] = Failure(status, code, message)

    # --- the API -----------------------------------------------------------------------------
    def handle(self, method: str, path: str, body: bytes, auth: str | None) -> tuple[int, Any]:
        params: dict[str, list[str]] = {}
        for key, value in parse_qsl(body.decode(), keep_blank_values=True):
            params.setdefault(key, []).append(value)
        expected = (
            "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        )
        request = ApiRequest(method, path, params, auth == expected)
        self.requests.append(request)
        if not request.auth_ok:
            return 401, _error(401, 20003, "Authenticate")
        prefix = f"/2010-04-01/Accounts/{self.account_sid}/"
        if not path.startswith(prefix) or method != "POST":
            return 404, _error(404, 20404, "The requested resource was not found")
        rest = path[len(prefix) :]
        to = request.one("To") or ""
        if rest in ("Messages.json", "Calls.json") and to in self.failures:
            f = self.failures[to]
            return f.status, _error(f.status, f.code, f.message)
        if rest == "Messages.json":
            if not request.one("StatusCallback"):
                return 400, _error(400, 21609, "StatusCallback is required by this test server")
            return 201, self._resource(
                "SM",
                request,
                {
                    "body": request.one("Body"),
                    "num_segments": "1",
                    "direction": "outbound-api",
                    "messaging_service_sid": request.one("MessagingServiceSid"),
                    "status": "queued",
                },
            )
        if rest == "Calls.json":
            return 201, self._resource(
                "CA",
                request,
                {"status": "queued", "direction": "outbound-api", "answered_by": None},
            )
        if rest.startswith("Calls/CA") and rest.endswith(".json"):
            sid = rest[len("Calls/") : -len(".json")]
            return 200, {"sid": sid, "account_sid": self.account_sid, "status": "in-progress"}
        return 404, _error(404, 20404, "The requested resource was not found")

    def _resource(self, prefix: str, request: ApiRequest, extra: dict[str, Any]) -> dict[str, Any]:
        sid = prefix + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC), usegmt=True)
        kind = "Messages" if prefix == "SM" else "Calls"
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": request.one("To"),
            "from": request.one("From"),
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "price": None,
            "price_unit": "USD",
            "api_version": "2010-04-01",
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/{kind}/{sid}.json",
            **extra,
        }

    # --- Twilio's side of the webhooks -------------------------------------------------------
    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    def post(
        self,
        public_url: str,
        app_url: str,
        params: dict[str, str],
        *,
        signature: str | None = "sign",
    ) -> httpx.Response:
        """POST `params` to the app as Twilio would call `public_url` (the URL it signs); the
        request really goes to `app_url` (our server behind the "TLS proxy")."""
        headers = {}
        if signature == "sign":
            headers["X-Twilio-Signature"] = self.sign(public_url, params)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        parts = urlsplit(public_url)
        target = app_url.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
        response = httpx.post(target, data=params, headers=headers, timeout=10)
        if response.status_code == 200 and "xml" in response.headers.get("content-type", ""):
            validate(response.text)  # every TwiML answer, against telephony/twiml.xsd
        return response


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _handler(server: TwilioTestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._answer("POST")

        def do_GET(self) -> None:
            self._answer("GET")

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload = server.handle(
                method, urlsplit(self.path).path, body, self.headers.get("Authorization")
            )
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler
