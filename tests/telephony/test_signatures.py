"""X-Twilio-Signature both ways; forged, replayed and unsigned requests refused; an unsigned
body is never read, and a body over MAX_BODY is refused with 413."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import pytest
from fastapi import HTTPException, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.types import Message
from twilio.request_validator import RequestValidator

from comms.settings import Settings
from telephony.models import InboundMessage, WebhookEvent
from telephony.signatures import MAX_BODY, Verifier, sign
from tests.support.twilio_server import TwilioTestServer
from tests.telephony.conftest import PUBLIC_URL, AppServer, Clock, make_world

INBOUND = f"{PUBLIC_URL}/twilio/voice/inbound"
PARAMS = {"CallSid": "CA" + "1" * 32, "From": "+12125550143", "To": "+12125550100"}


def test_our_signatures_are_twilios(settings: Settings, twilio: TwilioTestServer) -> None:
    mine = sign(settings, INBOUND, PARAMS)
    assert RequestValidator(twilio.auth_token).validate(INBOUND, PARAMS, mine)
    assert mine == twilio.sign(INBOUND, PARAMS)
    assert not RequestValidator("another-token-123").validate(INBOUND, PARAMS, mine)


def test_signed_against_public_url_behind_proxy(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        make_world(s, clock.now)
    assert twilio.post(INBOUND, app.url, PARAMS).status_code == 200
    # signed for the address we are really served on (not the public one): refused
    direct = f"{app.url}/twilio/voice/inbound"
    sig = twilio.sign(direct, PARAMS)
    assert twilio.post(INBOUND, app.url, PARAMS, signature=sig).status_code == 403


def test_unsigned_and_forged_refused(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    for path in (
        "/twilio/voice/inbound",
        "/twilio/sms/inbound",
        "/twilio/sms/status",
        "/twilio/voice/status",
        "/twilio/voice/reminder/1",
        "/twilio/voice/reminder/1/menu",
        "/twilio/voice/ivr/menu?vendor=1",
    ):
        url = PUBLIC_URL + path
        assert twilio.post(url, app.url, PARAMS, signature=None).status_code == 403, path
        assert twilio.post(url, app.url, PARAMS, signature="Zm9yZ2Vk").status_code == 403
        forged = RequestValidator("not-the-token-99").compute_signature(url, PARAMS)
        assert twilio.post(url, app.url, PARAMS, signature=forged).status_code == 403
    with Session(use_db) as s:
        assert s.exec(select(InboundMessage)).all() == []
        assert s.exec(select(WebhookEvent)).all() == []


def test_replays_refused(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    params = {"MessageSid": "SM" + "2" * 32, "From": "+12125550143", "Body": "STOP"}
    url = f"{PUBLIC_URL}/twilio/sms/inbound"
    signature = twilio.sign(url, params)
    assert twilio.post(url, app.url, params, signature=signature).status_code == 200
    # the captured signature replayed with other parameters, or to another endpoint
    changed = {**params, "Body": "START"}
    assert twilio.post(url, app.url, changed, signature=signature).status_code == 403
    other = f"{PUBLIC_URL}/twilio/sms/status"
    assert twilio.post(other, app.url, params, signature=signature).status_code == 403
    # the identical request replayed: accepted by HTTP but never processed twice
    assert twilio.post(url, app.url, params, signature=signature).status_code == 200
    with Session(use_db) as s:
        assert len(s.exec(select(InboundMessage)).all()) == 1
        assert len(s.exec(select(WebhookEvent)).all()) == 1


def _request(headers: dict[str, str], chunks: list[bytes], reads: list[int]) -> Request:
    """A POST whose body arrives in `chunks`; `reads` counts the bytes handed over."""
    pending = list(chunks)

    async def receive() -> Message:
        body = pending.pop(0) if pending else b""
        reads.append(len(body))
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/twilio/sms/inbound",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope, receive)


def _refused(verifier: Verifier, request: Request) -> int:
    with pytest.raises(HTTPException) as refused:
        asyncio.run(verifier.form(request))
    return refused.value.status_code


def test_unsigned_body_is_never_read() -> None:
    verifier = Verifier("body-test-token-0123", PUBLIC_URL)
    reads: list[int] = []
    big = [b"x" * 65536] * 16
    form = {"content-type": "application/x-www-form-urlencoded", "content-length": "1048576"}
    assert _refused(verifier, _request(form, big, reads)) == 403
    assert reads == []  # refused before the first byte


def test_oversized_body_refused_by_length_and_while_reading() -> None:
    verifier = Verifier("body-test-token-0123", PUBLIC_URL)
    signed = {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": "c2ln"}
    reads: list[int] = []
    declared = {**signed, "content-length": str(600 * 1024 * 1024)}
    assert _refused(verifier, _request(declared, [b"x" * 1024], reads)) == 413
    assert reads == []  # the declared length is enough
    # chunked (no length): read up to the limit, then refused
    chunks = [b"x" * 16384] * 4096  # 64 MiB if it were all read
    assert _refused(verifier, _request(signed, chunks, reads)) == 413
    assert sum(reads) <= MAX_BODY + 16384
    # a small body is read and its signature checked as before
    params = {"MessageSid": "SM1", "Body": "hi"}
    url = PUBLIC_URL + "/twilio/sms/inbound"
    good = {**signed, "x-twilio-signature": verifier.signature(url, params).decode()}
    body = urlencode(params).encode()
    assert asyncio.run(verifier.form(_request(good, [body[:5], body[5:]], []))) == params


def test_oversized_callback_refused_over_http(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        make_world(s, clock.now)
    url = f"{PUBLIC_URL}/twilio/sms/inbound"
    params = {"MessageSid": "SM" + "3" * 32, "From": "+12125550143", "Body": "x" * (MAX_BODY + 1)}
    assert twilio.post(url, app.url, params).status_code == 413
    # unsigned as well: the app's body cap (`comms.body_limit`) answers before the signature
    assert twilio.post(url, app.url, params, signature=None).status_code == 413
    with Session(use_db) as s:
        assert s.exec(select(InboundMessage)).all() == []
        assert s.exec(select(WebhookEvent)).all() == []
    # a long but legitimate text still goes through
    params["Body"] = "é" * 1600
    assert twilio.post(url, app.url, params).status_code == 200
