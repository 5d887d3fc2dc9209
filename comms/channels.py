"""The channel interface: one sender per channel (email, sms, call, call_task).

A sender takes a delivery row that is already claimed (status `sending`) and returns an
outcome; it never touches the row itself. The outbox applies the outcome. Packages register
their senders here (`register_sender`), keyed by channel and chosen by settings, so `comms`
never imports `telephony` or `workflows`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from comms.models import Delivery
from comms.settings import Settings

OutcomeStatus = Literal["sent", "delivered", "retry", "failed", "bounced", "skipped"]


@dataclass(frozen=True)
class SendOutcome:
    """What a provider said. `retry` is transient (4xx, timeouts); `failed` and `bounced`
    are permanent and are reported to the workflow."""

    status: OutcomeStatus
    provider_message_id: str | None = None
    message_id: str | None = None
    error: str | None = None
    error_code: str | None = None

    @property
    def permanent_failure(self) -> bool:
        return self.status in ("failed", "bounced")


class ChannelSender(Protocol):
    channel: str

    async def send(self, delivery: Delivery, *, now: datetime) -> SendOutcome: ...

    async def aclose(self) -> None: ...


SenderFactory = Callable[[Settings], ChannelSender]
_FACTORIES: dict[str, SenderFactory] = {}


def register_sender(channel: str, factory: SenderFactory) -> None:
    _FACTORIES[channel] = factory


def sender_factory(channel: str) -> SenderFactory:
    _load_plugins()
    try:
        return _FACTORIES[channel]
    except KeyError:
        raise LookupError(f"no sender registered for channel {channel!r}") from None


def _load_plugins() -> None:
    """Import the packages that register senders (idempotent)."""
    import importlib

    for module in ("comms.email.sender", "telephony.senders"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


class SandboxSender:
    """Records the message on its delivery row and reports it sent. Used for SMS and calls
    without Twilio credentials, and for call tasks until telephony registers its own."""

    def __init__(self, channel: str) -> None:
        self.channel = channel

    async def send(self, delivery: Delivery, *, now: datetime) -> SendOutcome:
        return SendOutcome(status="sent", provider_message_id=f"SANDBOX-{delivery.id}")

    async def aclose(self) -> None:
        return None


def _sandbox_factory(channel: str) -> SenderFactory:
    def factory(_settings: Settings) -> ChannelSender:
        return SandboxSender(channel)

    return factory


for _name in ("sms", "call", "call_task"):
    _FACTORIES.setdefault(_name, _sandbox_factory(_name))
