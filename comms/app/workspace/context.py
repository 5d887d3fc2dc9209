"""What every page of the workspace shares: settings, engines, the clock, the templates, the
event hub and the sign-in limiter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property

from jinja2 import Environment
from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.app.workspace.events import EventHub
from comms.app.workspace.presence import Presence
from comms.settings import Settings
from comms.staff.ratelimit import SignInLimiter


@dataclass
class Workspace:
    settings: Settings
    engine: Engine  # writes (sessions, audit)
    reader: Engine  # page reads
    clock: Callable[[], datetime]
    templates: Environment
    hub: EventHub
    limiter: SignInLimiter = field(default_factory=SignInLimiter)
    presence: Presence = field(default_factory=Presence)
    # hands a new outbox row to the workers (the sweep finds it anyway when this does nothing)
    enqueue: Callable[[int, datetime], None] = field(default=lambda _id, _now: None)

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        return self.now().astimezone(self.settings.zone).date()

    def read(self) -> Session:
        return Session(self.reader, expire_on_commit=False)

    def write(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    @cached_property
    def key(self) -> bytes:
        """The service's signing key (`COMMS_SECRET_KEY` or `var/secret.key`), for cookies."""
        return self.settings.signing_key()

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(hours=self.settings.staff_session_hours)

    @property
    def secure_cookies(self) -> bool:
        return self.settings.public_url.lower().startswith("https://")
