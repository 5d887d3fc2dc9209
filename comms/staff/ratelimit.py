"""Sign-in attempts, limited per account and per address: failures in a sliding window.

In-process: each web process counts its own attempts (with N processes an attacker gets at
most N times the limit). A success clears the account's failures."""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

PER_ACCOUNT = 5
PER_ADDRESS = 20
WINDOW = timedelta(minutes=15)
MAX_KEYS = 100_000  # forgotten oldest-first beyond this, so the table cannot grow forever


class SignInLimiter:
    def __init__(
        self,
        *,
        per_account: int = PER_ACCOUNT,
        per_address: int = PER_ADDRESS,
        window: timedelta = WINDOW,
    ) -> None:
        self.per_account = per_account
        self.per_address = per_address
        self.window = window
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, account: str, address: str, now: datetime) -> int | None:
        """Seconds to wait when either limit is reached, else None."""
        with self._lock:
            waits = []
            for key, limit in (
                (f"account:{account.lower()}", self.per_account),
                (f"address:{address}", self.per_address),
            ):
                times = self._recent(key, now)
                if len(times) >= limit:
                    waits.append((times[0] + self.window - now).total_seconds())
            return max(1, int(max(waits)) + 1) if waits else None

    def failed(self, account: str, address: str, now: datetime) -> None:
        with self._lock:
            for key in (f"account:{account.lower()}", f"address:{address}"):
                self._failures.setdefault(key, deque()).append(now)
            while len(self._failures) > MAX_KEYS:
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, account: str) -> None:
        with self._lock:
            self._failures.pop(f"account:{account.lower()}", None)
