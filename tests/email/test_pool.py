"""The token bucket, with a fake clock (no timed assertions)."""

from __future__ import annotations

import pytest

from comms.email import pool as pool_mod
from comms.email.pool import TokenBucket


async def test_token_bucket_waits_for_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(pool_mod.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(pool_mod.asyncio, "sleep", fake_sleep)
    bucket = TokenBucket(2.0)  # 2 per second, burst 2
    for _ in range(4):
        await bucket.take()
    assert slept == [pytest.approx(0.5), pytest.approx(0.5)]
    clock[0] += 10  # idle: the bucket refills only up to its burst
    for _ in range(3):
        await bucket.take()
    assert len(slept) == 3


async def test_unlimited_bucket_never_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(seconds: float) -> None:
        raise AssertionError("slept")

    monkeypatch.setattr(pool_mod.asyncio, "sleep", boom)
    bucket = TokenBucket(0.0)
    for _ in range(100):
        await bucket.take()
