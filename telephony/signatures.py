"""X-Twilio-Signature: checked against COMMS_PUBLIC_URL + path, so a TLS proxy in front of
us (Twilio signs https://public/..., we see http://127.0.0.1/...) does not break it."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request
from twilio.request_validator import RequestValidator

from comms.settings import Settings


def expected_url(settings: Settings, request: Request) -> str:
    url = settings.public_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return url


def auth_token(settings: Settings) -> str:
    if settings.twilio_auth_token is not None:
        return settings.twilio_auth_token.get_secret_value()
    # sandbox mode: webhooks are still signed, with a key derived from the signing key
    return settings.signing_key().hex()[:32]


async def verified_form(request: Request, settings: Settings) -> dict[str, str]:
    """The POSTed form when the signature is right; HTTP 403 otherwise."""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        body = (await request.body()).decode("utf-8", "replace")
        params = dict(parse_qsl(body, keep_blank_values=True))
    else:
        form = await request.form()
        params = {k: str(v) for k, v in form.multi_items()}
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not is_valid(settings, expected_url(settings, request), params, signature):
        raise HTTPException(status_code=403, detail="invalid Twilio signature")
    return params


def is_valid(settings: Settings, url: str, params: Mapping[str, str], signature: str) -> bool:
    return bool(RequestValidator(auth_token(settings)).validate(url, dict(params), signature))


def sign(settings: Settings, url: str, params: Mapping[str, str]) -> str:
    return str(RequestValidator(auth_token(settings)).compute_signature(url, dict(params)))
