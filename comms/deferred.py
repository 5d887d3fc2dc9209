"""Content rendered when a delivery is first sent, not when it is planned.

The workflow scheduler plans deliveries in bulk and leaves their content to the dispatcher:
such a row carries `content["render"] = {"as_of": ISO, "pending": true}`. Just before the
first send attempt the dispatcher renders it (`render_pending`) with the template context as
of `as_of` (the moment the step was planned), stores the subject and parts on the row — the
audit trail of what was sent — and commits that before the message leaves, so every retry
sends the same content and headers. A row that cannot be rendered fails (`render_error`)
instead of being sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from comms.models import Delivery
from comms.settings import Settings

RENDER = "render"


def render_spec(now: datetime) -> dict[str, Any]:
    """The `content["render"]` entry of a row whose content is rendered at send time."""
    return {"as_of": now.isoformat(), "pending": True}


def rendered_spec(content: dict[str, Any] | None) -> dict[str, Any]:
    """`content` with its render entry marked done (a new dict, so the change is stored)."""
    out = dict(content or {})
    out[RENDER] = {**out.get(RENDER, {}), "pending": False}
    return out


def is_pending(row: Delivery) -> bool:
    spec = (row.content or {}).get(RENDER)
    return isinstance(spec, dict) and bool(spec.get("pending"))


def row_context(
    session: Session, row: Delivery, *, as_of: datetime, settings: Settings
) -> dict[str, Any]:
    """The template context of a deferred row's vendor and case, as of ``as_of``."""
    from comms.context import template_context
    from comms.models import Case, Vendor

    vendor = session.get(Vendor, row.vendor_id) if row.vendor_id is not None else None
    if vendor is None:
        raise LookupError(f"delivery {row.id}: vendor {row.vendor_id} is gone")
    case = session.get(Case, row.case_id) if row.case_id is not None else None
    return template_context(
        session,
        vendor,
        now=as_of,
        case=case,
        recipient_kind=row.recipient_kind,
        settings=settings,
    )


def render_pending(session: Session, row: Delivery, *, settings: Settings) -> bool:
    """Render a pending row in place. False when there was nothing to render.
    Raises `comms.templating.TemplateError` (or LookupError when its vendor is gone)."""
    if not is_pending(row):
        return False
    as_of = datetime.fromisoformat(str(row.content[RENDER]["as_of"]))
    if row.channel == "email":
        from comms.email.compose import render_deferred_email

        render_deferred_email(session, row, as_of=as_of, settings=settings)
        return True
    path = row.content.get("template_path")
    if path:
        from comms.templating import render_text

        context = row_context(session, row, as_of=as_of, settings=settings)
        row.body_text = render_text(str(path), context)
    row.content = rendered_spec(row.content)
    return True
