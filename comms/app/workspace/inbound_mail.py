"""Unmatched mail, `/inbound`: the messages on the review list (they matched no vendor) and the
quarantined ones, each with its reason, newest first. Read-only for now: assigning and
retrying are `comms inbound assign|retry`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import func
from sqlalchemy import select as select_columns
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import page_route, render
from comms.app.workspace.security import COMPLIANCE, require_staff
from comms.staff.sessions import SignedIn
from inbound.models import InboundEmail, InboundStatus

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
    def inbound_page(request: Request, _who: SignedIn = Depends(compliance)) -> Response:
        with ws.read() as session:
            review = _rows(session, on_review_list())
            held = _rows(session, quarantined())
            counts = (count(session, on_review_list()), count(session, quarantined()))
        return render(
            ws,
            request,
            "inbound.html",
            title="Unmatched mail",
            review=review,
            quarantine=held,
            review_total=counts[0],
            quarantine_total=counts[1],
        )

    return api
