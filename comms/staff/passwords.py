"""Argon2id password hashes (argon2-cffi, with its default, RFC 9106 low-memory parameters)."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from comms.errors import PermanentError

MIN_LENGTH = 10
MAX_LENGTH = 1024  # hashing a megabyte of "password" is a denial of service

_hasher = PasswordHasher()


@cache
def _dummy() -> str:
    """Verified against when the account does not exist, so that answer takes as long as a
    real one. Hashed on first use, not at import: every `comms` command imports this module,
    and a hash costs tens of milliseconds and Argon2's memory."""
    return _hasher.hash("not a password of anyone")


class PasswordError(PermanentError, ValueError):
    """The password is not acceptable (too short, too long)."""

    code = "password_refused"


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordError(f"a password has at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`; None (no such account) costs the same time."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored or _dummy(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)
