"""X-Twilio-Signature: checked against COMMS_PUBLIC_URL + path, so a TLS proxy in front of
us (Twilio signs https://public/..., we see http://127.0.0.1/...) does not break it.

`Verifier` applies the rule of twilio's `RequestValidator.validate` (HMAC-SHA1 of the URL
followed by the sorted parameter names and values; the URL is accepted with or without its
default port) with the key encoded once and the URL variants memoized, because it runs on
every webhook. Tests check it against `RequestValidator` both ways."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from functools import lru_cache
from hashlib import sha1
from urllib.parse import parse_qsl, urlparse

from fastapi import HTTPException, Request
from starlette.types import Message, Receive
from twilio.request_validator import RequestValidator, add_port, remove_port

from comms.body_limit import MAX_BODY  # Twilio's callbacks are a few kilobytes
from comms.settings import Settings

FORM = "application/x-www-form-urlencoded"


def public_url(base: str, request: Request) -> str:
    """The URL Twilio signed: our public base, the path and the query string as received."""
    query = request.scope.get("query_string", b"")
    path = request.scope["path"]
    if "?" in path or "#" in path or "\\" in path:  # as in `request.url.path`
        path = path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    url = base + path
    return url + "?" + query.decode("latin-1") if query else url


def auth_token(settings: Settings) -> str:
    if settings.twilio_auth_token is not None:
        return settings.twilio_auth_token.get_secret_value()
    # sandbox mode: webhooks are still signed, with a key derived from the signing key
    return settings.signing_key().hex()[:32]


@lru_cache(maxsize=4096)
def url_variants(url: str) -> tuple[str, ...]:
    """The URL without and with its port, as `RequestValidator.validate` tries them."""
    parsed = urlparse(url)
    without, with_port = remove_port(parsed), add_port(parsed)
    return (without,) if with_port == without else (without, with_port)


class Verifier:
    """Checks X-Twilio-Signature for one auth token and public base URL."""

    def __init__(self, token: str, base_url: str) -> None:
        self._key = token.encode("utf-8")
        self.base_url = base_url

    @classmethod
    def for_settings(cls, settings: Settings) -> Verifier:
        return cls(auth_token(settings), settings.public_url)

    def signature(self, url: str, params: Mapping[str, str]) -> bytes:
        data = url + "".join(name + params[name] for name in sorted(params))
        return base64.b64encode(hmac.new(self._key, data.encode("utf-8"), sha1).digest())

    def valid(self, url: str, params: Mapping[str, str], signature: str) -> bool:
        if not signature:
            return False
        given = signature.encode("utf-8", "replace")
        return any(
            hmac.compare_digest(self.signature(candidate, params), given)
            for candidate in url_variants(url)
        )

    async def form(self, request: Request) -> dict[str, str]:
        """The POSTed form when the signature is right: HTTP 403 without a signature (the
        body is not read), 413 for a body over MAX_BODY, 403 for a wrong signature."""
        signature = request.headers.get("x-twilio-signature", "")
        if not signature:
            raise HTTPException(status_code=403, detail="invalid Twilio signature")
        body = await read_body(request)
        if request.headers.get("content-type", "").startswith(FORM):
            params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        else:
            form = await Request(request.scope, _replay(body)).form()
            params = {k: str(v) for k, v in form.multi_items()}
        if not self.valid(public_url(self.base_url, request), params, signature):
            raise HTTPException(status_code=403, detail="invalid Twilio signature")
        return params


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, refused with 413 past `limit` bytes: by its Content-Length before
    reading, and while reading (a chunked body, or a Content-Length that lies)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(status_code=413, detail=f"request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status_code=413, detail=f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    """An ASGI receive that hands over a body already read (to parse it as a form)."""

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def verified_form(request: Request, settings: Settings) -> dict[str, str]:
    """The POSTed form when the signature is right; HTTP 403 otherwise."""
    return await Verifier.for_settings(settings).form(request)


def is_valid(settings: Settings, url: str, params: Mapping[str, str], signature: str) -> bool:
    return Verifier.for_settings(settings).valid(url, params, signature)


def sign(settings: Settings, url: str, params: Mapping[str, str]) -> str:
    return str(RequestValidator(auth_token(settings)).compute_signature(url, dict(params)))
