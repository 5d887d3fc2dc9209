"""Who has a certificate open on the review desk. Opening one publishes a `review_open` event;
every web process hears it (through LISTEN/NOTIFY on PostgreSQL) and keeps the newest view per
staff member for a few minutes. One certificate per person: opening another moves them."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from comms.app.workspace.events import Event

KIND = "review_open"
FRESH = timedelta(minutes=5)


class Presence:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._where: dict[str, tuple[int, datetime]] = {}  # staff name -> (certificate, when)

    def observe(self, event: Event) -> None:
        if event.kind != KIND:
            return
        try:
            name = str(event.data["by"])
            cert = int(event.data["certificate"])
            at = datetime.fromisoformat(str(event.data["at"]))
        except (KeyError, TypeError, ValueError):
            return
        with self._lock:
            old = self._where.get(name)
            if old is None or old[1] <= at:
                self._where[name] = (cert, at)

    def viewers(self, certificate: int, *, now: datetime, besides: str = "") -> list[str]:
        with self._lock:
            return sorted(
                name
                for name, (cert, at) in self._where.items()
                if cert == certificate and name != besides and now - at < FRESH
            )
