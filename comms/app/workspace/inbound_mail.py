"""Unmatched mail, `/inbound`: the messages on the review list (they matched no vendor) and the
quarantined ones, each with its reason, newest first. Staff assign a message to a vendor (it
then runs through the pipeline), retry a quarantined one, or dismiss one
(`inbound.staff_actions`); a second, concurrent action on the same message gets 409."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import func
from sqlalchemy import select as select_columns
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import page_route, render
from comms.app.workspace.security import COMPLIANCE, PageError, check_csrf, require_staff
from comms.staff.sessions import SignedIn
from inbound.models import InboundEmail, InboundStatus
from inbound.pipeline import process_message
from inbound.staff_actions import (
    MessageActionRefused,
    MessageMoved,
    assign_message,
    dismiss_message,
    retry_message,
)

SHOWN = 50


def on_review_list() -> list[ColumnElement[bool]]:
    """What `comms inbound list --review` lists."""
    return [
        col(InboundEmail.status) == InboundStatus.REVIEW.value,
        col(InboundEmail.reviewed_at).is_(None),
    ]


def quarantined() -> list[ColumnElement[bool]]:
    return [col(InboundEmail.status) == InboundStatus.QUARANTINED.value]


def count(session: Session, where: list[ColumnElement[bool]]) -> int:
    return int(session.exec(select(func.count()).select_from(InboundEmail).where(*where)).one())


def _rows(session: Session, where: list[ColumnElement[bool]]) -> list[Any]:
    return list(
        session.execute(  # columns only: the raw message stays in the database
            select_columns(
                col(InboundEmail.id),
                col(InboundEmail.received_at),
                col(InboundEmail.sender),
                col(InboundEmail.subject),
                col(InboundEmail.classification),
                col(InboundEmail.quarantine_reason),
            )
            .where(*where)
            .order_by(col(InboundEmail.received_at).desc(), col(InboundEmail.id).desc())
            .limit(SHOWN)
        ).all()
    )


def router(ws: Workspace) -> APIRouter:
    api = APIRouter(route_class=page_route(ws))
    compliance = require_staff(ws, COMPLIANCE)

    @api.get("/inbound")
    def inbound_page(
        request: Request, _who: SignedIn = Depends(compliance), done: str = ""
    ) -> Response:
        with ws.read() as session:
            review = _rows(session, on_review_list())
            held = _rows(session, quarantined())
            counts = (count(session, on_review_list()), count(session, quarantined()))
        return render(
            ws,
            request,
            "inbound.html",
            title="Unmatched mail",
            done=done[:200],
            review=review,
            quarantine=held,
            review_total=counts[0],
            quarantine_total=counts[1],
        )

    def _act(action: str, inbound_id: int, who: SignedIn, vendor: str) -> str:
        now = ws.now()
        with ws.write() as session:
            if action == "assign":
                found = assign_message(session, inbound_id, vendor=vendor, by=who.name, now=now)
                note = f"Message {inbound_id} assigned to {found.name}"
            elif action == "retry":
                retry_message(session, inbound_id, by=who.name, now=now)
                note = f"Message {inbound_id} retried"
            else:
                dismiss_message(session, inbound_id, by=who.name, now=now)
                return f"Message {inbound_id} dismissed."
        result = process_message(
            inbound_id,
            now=now,
            engine=ws.engine,
            settings=ws.settings,
            enqueue=lambda delivery_id, now: ws.enqueue(delivery_id, now),
        )
        return f"{note}: {result.status}."

    @api.post("/inbound/{inbound_id}/{action}")
    async def act(
        request: Request, inbound_id: str, action: str, who: SignedIn = Depends(compliance)
    ) -> Response:
        await check_csrf(request, who)
        if action not in ("assign", "retry", "dismiss"):
            raise PageError(404, f"There is no action {action[:20]!r} on a message.")
        if not inbound_id.isdigit() or len(inbound_id) > 12:
            raise PageError(404, f"There is no inbound message {inbound_id[:40]!r}.")
        form = await request.form()
        vendor = form.get("vendor")
        try:
            note = await asyncio.to_thread(
                _act, action, int(inbound_id), who, vendor if isinstance(vendor, str) else ""
            )
        except MessageMoved as exc:
            raise PageError(409, f"Nothing was changed: {exc}.", title="Already handled") from None
        except MessageActionRefused as exc:
            raise PageError(422, f"Nothing was changed: {exc}.") from None
        ws.hub.publish("dashboard", {})
        return RedirectResponse(f"/inbound?done={quote(note)}", status_code=303)

    return api
