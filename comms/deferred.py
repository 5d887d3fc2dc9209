"""Content rendered when a delivery is first sent, not when it is planned.

The workflow scheduler plans deliveries in bulk and leaves their content to the dispatcher:
such a row carries `content["render"] = {"as_of": ISO, "pending": true}`. Just before the
first send attempt the dispatcher renders it (`render_row`) with the template context as of
`as_of` (the moment the step was planned; `pending_contexts` loads a whole batch's), stores
the subject and parts on the row — the audit trail of what was sent — and commits that before
the message leaves, so every retry sends the same content and headers. A row that cannot be
rendered fails (`render_error`) instead of being sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from comms.channel_spec import channel_spec
from comms.context import ContextRequest, context_builders
from comms.executemany import update_by_id
from comms.models import Delivery
from comms.render_spec import RENDER
from comms.settings import Settings


def is_pending(row: Delivery) -> bool:
    spec = (row.content or {}).get(RENDER)
    return isinstance(spec, dict) and bool(spec.get("pending"))


def _as_of(row: Delivery) -> datetime:
    return datetime.fromisoformat(str(row.content[RENDER]["as_of"]))


ContextBuilder = Callable[[], dict[str, Any]]
Contexts = dict[int, ContextBuilder | LookupError]  # by row id (`pending_contexts`)


def pending_contexts(session: Session, rows: Sequence[Delivery], *, settings: Settings) -> Contexts:
    """For each row of `rows` whose content waits for its send, by row id, the builder of its
    template context, from one load for them all (`comms.context`); a `LookupError`
    for a row whose vendor is gone. Rows rendered when they were queued are not in it."""
    out: Contexts = {}
    pending: list[Delivery] = []
    for row in rows:
        if not is_pending(row):
            continue
        if row.vendor_id is None:
            out[row.id or 0] = LookupError(f"delivery {row.id} has no vendor")
        else:
            pending.append(row)
    requests = [
        ContextRequest(
            vendor_id=row.vendor_id or 0,
            as_of=_as_of(row),
            case_id=row.case_id,
            recipient_kind=row.recipient_kind,
        )
        for row in pending
    ]
    for row, context in zip(
        pending, context_builders(session, requests, settings=settings), strict=True
    ):
        out[row.id or 0] = (
            LookupError(f"delivery {row.id}: {context}")
            if isinstance(context, LookupError)
            else context
        )
    return out


def rendered_values(
    row: Delivery, context: dict[str, Any], *, settings: Settings
) -> dict[str, Any]:
    """The column values of a pending row rendered with its context by its channel's renderer
    (`comms.channel_spec`): subject and parts (and for email the reply token, Message-ID and
    Reply-To), with the render entry marked done. Pure: `store_rendered` writes them. Raises
    `comms.templating.TemplateError`."""
    spec = channel_spec(row.channel)
    return spec.render(spec, row, context, settings)


def store_rendered(session: Session, rendered: Sequence[tuple[Delivery, dict[str, Any]]]) -> None:
    """Write rendered content (one executemany per set of columns) and set it on the row
    objects as their loaded state. Does not commit."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row, values in rendered:
        groups.setdefault(tuple(values), []).append({"id": row.id, **values})
        for name, value in values.items():
            set_committed_value(row, name, value)
    table = Delivery.__table__  # type: ignore[attr-defined]
    for rows in groups.values():
        update_by_id(session.connection(), table, rows)
