"""The Twilio REST client, pointed at COMMS_TWILIO_API_URL when set (SignalWire's LaML API,
the test server). The library's `Domain.base_url` is the documented attribute every request
URL is built from, so replacing it on the `api` domain re-targets Messages and Calls."""

from __future__ import annotations

from typing import Any

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from comms.errors import PermanentError
from comms.settings import Settings


class GatewayError(PermanentError):
    """Twilio is not configured."""

    code = "twilio_not_configured"


def make_client(settings: Settings, *, timeout: float = 15.0) -> Client:
    if not settings.twilio_configured or settings.twilio_auth_token is None:
        raise GatewayError("Twilio is not configured (COMMS_TWILIO_ACCOUNT_SID/_AUTH_TOKEN)")
    client = Client(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        http_client=TwilioHttpClient(timeout=timeout),
    )
    if settings.twilio_api_url:
        client.api.base_url = settings.twilio_api_url.rstrip("/")
    return client


def callback_url(settings: Settings, path: str) -> str:
    """Absolute URL of one of our webhooks as Twilio must call (and sign) it."""
    return f"{settings.public_url}/{path.lstrip('/')}"


def sender_params(settings: Settings) -> dict[str, Any]:
    if settings.twilio_messaging_service_sid:
        return {"messaging_service_sid": settings.twilio_messaging_service_sid}
    return {"from_": settings.twilio_from_number}
