"""A channel is one module plus data: the specification each channel registers.

A channel's package describes it once (`ChannelSpec`): its sender, how a planned row of it is
made and rendered and where its templates live, when it may be used (business days, or the
recipient's quiet hours), the workflow outcome it reports when a delivery fails, the vendor's
opt-out flag for it, and how it finds the address of a recipient role. The outbox, the
dispatcher, the workflow loader, the planner and the calendar read the spec; none of them
names a channel.

Channels register through the `coi_comms.channels` entry point group (`pyproject.toml`), each
entry naming a `ChannelSpec` in its own package: email in `comms.email.channel`; SMS, calls
and call tasks in `telephony.channels`. Adding a channel is one module, its templates, an
entry point and, when it needs new columns, a migration. `register_channel` adds one by hand
(tests, or a composition root that wires its own).
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from comms.channels import SenderFactory
from comms.models import Delivery
from comms.outbox import NewDelivery
from comms.settings import Settings
from comms.templating import templates_dir

ENTRY_POINTS = "coi_comms.channels"
Window = Literal["business_days", "quiet_hours"]


class Contact(Protocol):
    """What a channel reads of a vendor or an agent to find an address."""

    @property
    def email(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def email_invalid(self) -> bool: ...
    @property
    def phone_invalid(self) -> bool: ...


@dataclass(frozen=True)
class Recipient:
    kind: str  # vendor, agent, client
    address: str | None
    skip_reason: str | None = None


@dataclass(slots=True)
class RowRequest:
    """One planned step for one recipient with an address: what a channel's row is made of."""

    idempotency_key: str
    workflow: str
    step: str
    template: str
    attempt: int
    vendor: Any  # a vendor record (`Contact`, with `id` and the opt-out flags)
    agent: Contact | None
    recipient: Recipient
    case_id: int | None
    now: datetime
    settings: Settings


def contact_address(
    kind: str, contact: Contact, medium: Literal["email", "phone"], *, who: str
) -> Recipient:
    """`contact`'s email or phone for recipient role `kind`, unless it is flagged invalid or
    missing (`who` names it in the reason: "the agent")."""
    invalid, address = (
        (contact.email_invalid, contact.email)
        if medium == "email"
        else (contact.phone_invalid, contact.phone)
    )
    if invalid:
        return Recipient(kind, None, f"{who}'s {medium} is flagged invalid")
    return Recipient(kind, address, None if address else f"{who} has no {medium}")


AddressFinder = Callable[[str, Any, Contact | None, Settings], Recipient]
RowPlanner = Callable[["ChannelSpec", RowRequest], tuple[NewDelivery, str | None]]
Renderer = Callable[["ChannelSpec", Delivery, dict[str, Any], Settings], dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class ChannelSpec:
    name: str
    sender: SenderFactory  # chooses the provider from the settings
    template: str  # where a template named N lives under templates/: "sms/{}.txt"
    plan_row: RowPlanner  # the outbox row of a step (not rendered): (row, why not sendable)
    render: Renderer  # a planned row's column values, rendered with its template context
    window: Window  # business days in the organization's zone, or the recipient's quiet hours
    find_address: AddressFinder  # (recipient role, vendor, agent, settings) → Recipient
    failure_outcome: str | None = None  # the workflow outcome of a failed delivery
    opt_out: str | None = None  # the vendor's flag that opts out of this channel
    by_phone: bool = False  # a phone step (`first_phone_step` skips ahead to it)

    def template_path(self, name: str) -> str:
        return self.template.format(name)

    def has_template(self, name: str) -> bool:
        return (templates_dir() / self.template_path(name)).is_file()


_SPECS: dict[str, ChannelSpec] = {}
_LOADED = False
_LOCK = threading.Lock()


def register_channel(spec: ChannelSpec) -> None:
    _SPECS[spec.name] = spec


def channel_spec(name: str) -> ChannelSpec:
    _load_entry_points()
    try:
        return _SPECS[name]
    except KeyError:
        known = ", ".join(sorted(_SPECS)) or "none: is the project installed (make setup)?"
        raise LookupError(f"no channel named {name!r} (registered: {known})") from None


def channel_names() -> tuple[str, ...]:
    """Every registered channel, in registration order."""
    _load_entry_points()
    return tuple(_SPECS)


def _load_entry_points() -> None:
    """Register the channels the installed packages declare (once). The packages are found by
    name in the installed metadata, so `comms` imports none of them."""
    global _LOADED
    if _LOADED:
        return
    with _LOCK:
        if _LOADED:
            return
        for entry in sorted(importlib.metadata.entry_points(group=ENTRY_POINTS), key=_order):
            spec = entry.load()
            if not isinstance(spec, ChannelSpec) or spec.name != entry.name:
                raise TypeError(f"entry point {entry.value} is not the ChannelSpec {entry.name!r}")
            _SPECS.setdefault(spec.name, spec)
        _LOADED = True


def _order(entry: importlib.metadata.EntryPoint) -> tuple[int, str]:
    """Email first, then the rest by name: the order `channel_names` lists them in."""
    return (0 if entry.name == "email" else 1, entry.name)
