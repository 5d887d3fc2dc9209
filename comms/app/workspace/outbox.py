"""The sandbox outbox, `/outbox`: every email, text and call the service wrote, newest first,
readable (on the embedded defaults emails are also `.eml` files, texts and calls are rows)."""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import func
from sqlmodel import col, select

from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import page_route, render
from comms.app.workspace.security import COMPLIANCE, PageError, require_staff
from comms.channel_spec import channel_names
from comms.models import Delivery, Vendor
from comms.staff.sessions import SignedIn

PAGE_SIZE = 30


def router(ws: Workspace) -> APIRouter:
    api = APIRouter(route_class=page_route(ws))
    compliance = require_staff(ws, COMPLIANCE)
    channels = list(channel_names())

    @api.get("/outbox")
    def outbox(
        request: Request,
        _who: SignedIn = Depends(compliance),
        channel: str = Query("", max_length=16),
        page: int = Query(1, ge=1, le=100_000),
    ) -> Response:
        if channel and channel not in channels:
            raise PageError(422, f"Unknown channel {channel!r}: one of {', '.join(channels)}.")
        where = [col(Delivery.channel) == channel] if channel else []
        with ws.read() as session:
            total = session.exec(select(func.count()).select_from(Delivery).where(*where)).one()
            rows = session.exec(
                select(Delivery, Vendor.name)
                .outerjoin(Vendor, col(Vendor.id) == col(Delivery.vendor_id))
                .where(*where)
                .order_by(col(Delivery.created_at).desc(), col(Delivery.id).desc())
                .offset((page - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE)
            ).all()
        return render(
            ws,
            request,
            "outbox.html",
            title="Outbox",
            rows=rows,
            channel=channel,
            channels=channels,
            page=page,
            pages=max(1, math.ceil(int(total) / PAGE_SIZE)),
            total=int(total),
        )

    return api
