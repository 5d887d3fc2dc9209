"""X-Twilio-Signature both ways; forged, replayed and unsigned requests refused."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from comms.settings import Settings
from telephony.models import InboundMessage, WebhookEvent
from telephony.signatures import sign
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
