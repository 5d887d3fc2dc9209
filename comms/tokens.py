"""Signed reply tokens: `coi+TOKEN@reply-domain` names the case and the delivery.

The token is lowercase base32 (mail systems may fold case) of the case id, the delivery id
and a truncated HMAC-SHA256 over both, keyed by the settings' signing key. It cannot be forged
or guessed without the key; a mangled one fails verification and the caller falls back to
weaker correlation.
"""

from __future__ import annotations

import base64
import hmac
import re
import struct
from dataclasses import dataclass
from hashlib import sha256

_MAC_BYTES = 10
_PAYLOAD = struct.Struct(">II")
_TOKEN_RE = re.compile(r"^[a-z2-7]{29}$")


@dataclass(frozen=True)
class ReplyToken:
    case_id: int
    delivery_id: int


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, b"reply-token:" + payload, sha256).digest()[:_MAC_BYTES]


def make_token(case_id: int, delivery_id: int, key: bytes) -> str:
    payload = _PAYLOAD.pack(case_id, delivery_id)
    raw = payload + _mac(key, payload)
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def verify_token(token: str, key: bytes) -> ReplyToken | None:
    """The ids in a genuine token; None for anything forged, mangled or malformed."""
    token = token.strip().lower()
    if not _TOKEN_RE.match(token):
        return None
    try:
        raw = base64.b32decode(token.upper() + "===")
    except ValueError:  # binascii.Error is a ValueError
        return None
    if base64.b32encode(raw).decode("ascii").rstrip("=").lower() != token:
        return None  # the last character's spare bit was altered: not the token we issued
    payload, mac = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
    if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, _mac(key, payload)):
        return None
    case_id, delivery_id = _PAYLOAD.unpack(payload)
    return ReplyToken(case_id=case_id, delivery_id=delivery_id)


def reply_address(token: str, *, local_part: str, domain: str) -> str:
    return f"{local_part}+{token}@{domain}"


def token_from_address(address: str, *, local_part: str) -> str | None:
    """The token in `local+TOKEN@domain`, if the address has that shape."""
    address = address.strip().strip("<>")
    if "@" not in address:
        return None
    local = address.rsplit("@", 1)[0]
    prefix = f"{local_part.lower()}+"
    if not local.lower().startswith(prefix):
        return None
    return local[len(prefix) :]
