"""The sender interface: one sender per channel.

A sender takes a delivery row that is already claimed (status `sending`) and returns an
outcome; it never touches the row itself. The outbox applies the outcome. Each channel names
its sender factory in its specification (`comms.channel_spec`); the factory chooses the
provider from the settings.
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
