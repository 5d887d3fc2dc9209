"""Rows and rendering of a channel whose message is one text template (SMS, a call's opening
prompt, a call script): the row names its template under the channel's pattern and records
the planned step in `content`; it is rendered when it is first sent (`comms.deferred`)."""

from __future__ import annotations

from typing import Any

from comms.channel_spec import ChannelSpec, RowRequest
from comms.models import Delivery
from comms.outbox import NewDelivery
from comms.render_spec import render_spec, rendered_spec
from comms.settings import Settings
from comms.templating import render_text


def text_row(spec: ChannelSpec, req: RowRequest) -> tuple[NewDelivery, str | None]:
    """The row of one step to one recipient; its text is rendered at send time."""
    path = spec.template_path(req.template) if spec.has_template(req.template) else None
    content: dict[str, Any] = {
        "planned": {
            "workflow": req.workflow,
            "step": req.step,
            "template": req.template,
            "attempt": req.attempt,
        },
        "template_path": path,
    }
    if path is not None:
        content["render"] = render_spec(req.now)
    assert req.recipient.address is not None
    new = NewDelivery(
        idempotency_key=req.idempotency_key,
        channel=spec.name,
        recipient=req.recipient.address,
        recipient_kind=req.recipient.kind,
        vendor_id=req.vendor.id,
        case_id=req.case_id,
        step=req.step,
        template=req.template,
        content=content,
    )
    return new, None


def render_text_row(
    spec: ChannelSpec, row: Delivery, context: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    """The body of a planned row, rendered from its template (none: the body it has)."""
    values: dict[str, Any] = {"body_text": row.body_text, "content": rendered_spec(row.content)}
    path = row.content.get("template_path")
    if path:
        values["body_text"] = render_text(str(path), context)
    return values
