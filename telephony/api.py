"""JSON API for the staff workspace: list, claim and complete call tasks.

Every request carries a staff member's token (`Authorization: Bearer …`, from
`COMMS_STAFF_TOKENS`); the name the token belongs to is who claims or completes a task, so the
task's history says who did what. With no tokens configured the API answers 503: it shows
vendors' phone numbers and moves escalations, and the web app is exposed wherever Twilio must
reach its webhooks.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.settings import get_settings
from telephony import desk, task_states
from telephony.models import CallTask, TaskStatus
from telephony.tasks import (
    Disposition,
    TaskConflict,
    TaskError,
    claim_task,
    complete_task,
    list_tasks,
    reservation,
    task_dict,
)

MAX_LIMIT = 1000  # tasks in one answer; `limit` outside 1..MAX_LIMIT is refused with 422

log = logging.getLogger(__name__)


class ClaimBody(BaseModel):
    by: str | None = None  # when given, it must be the token's staff name


Outcome = Literal[
    "reached",
    "promised",
    "renewal_on_way",
    "voicemail",
    "voicemail_left",
    "no_answer",
    "busy",
    "wrong_number",
    "opted_out",
    "resolved",
]


class VendorOutcome(BaseModel):
    outcome: Outcome
    promised: date | None = None
    phone: str | None = None
    no_number: bool = False
    note: str = ""


class CompleteBody(BaseModel):
    by: str | None = None
    outcome: Outcome
    promised: date | None = None
    phone: str | None = None
    no_number: bool = False  # wrong_number: none was given (the number is no longer dialed)
    note: str = ""
    vendors: dict[int, VendorOutcome] = {}  # a call about several vendors: each one's outcome


class ReassignBody(BaseModel):
    to: str


def staff_api_state(tokens: int) -> str:
    """One line for start-up: is the staff API on, and for how many staff."""
    if tokens:
        return f"staff API /api/tasks: {tokens} staff token(s)"
    return "staff API /api/tasks: off (set COMMS_STAFF_TOKENS)"


Authenticate = Callable[[Request], str | None]


def staff_guard(
    tokens: Mapping[str, str], authenticate: Authenticate | None = None
) -> Callable[[Request], None]:
    """A dependency that puts the staff name the request's bearer token belongs to in
    `request.state.staff`, or refuses the request. `authenticate` (the workspace's: a signed-in
    session or a per-staff API token) is asked first."""
    known = [(name, token.encode()) for name, token in tokens.items()]
    challenge = {"WWW-Authenticate": "Bearer"}

    def staff(request: Request) -> None:
        if authenticate is not None:
            name = authenticate(request)
            if name is not None:
                request.state.staff = name
                return
        if not known and (authenticate is None or request.headers.get("authorization")):
            raise HTTPException(
                503,
                "the shared staff tokens are off (set COMMS_STAFF_TOKENS), or sign in to the "
                "workspace or use a per-staff API token from /account",
            )
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise HTTPException(
                401, "a staff token is required (Authorization: Bearer …)", challenge
            )
        given = credentials.strip().encode()
        found = None
        for name, token in known:  # every token compared, in constant time
            if hmac.compare_digest(given, token):
                found = name
        if found is None:
            client = request.client.host if request.client else "unknown"
            log.warning("staff API: refused an unknown token from %s", client)
            raise HTTPException(401, "unknown staff token", challenge)
        request.state.staff = found

    return staff


def _actor(request: Request, by: str | None) -> str:
    """Who acts: the token's staff name (a `by` in the body must be the same)."""
    staff: str = request.state.staff
    if by is not None and by != staff:
        raise HTTPException(403, f"this token is {staff}'s; it cannot act as {by}")
    return staff


def make_router(
    engine: Engine,
    *,
    clock: Callable[[], datetime],
    tokens: Mapping[str, str],
    authenticate: Authenticate | None = None,
) -> APIRouter:
    router = APIRouter(
        prefix="/api/tasks",
        tags=["call tasks"],
        dependencies=[Depends(staff_guard(tokens, authenticate))],
    )

    def refused(exc: TaskError) -> HTTPException:
        return HTTPException(409 if isinstance(exc, TaskConflict) else 422, str(exc))

    @router.get("")
    def tasks(
        status: str | None = "open", limit: int = Query(100, ge=1, le=MAX_LIMIT)
    ) -> list[dict[str, Any]]:
        known = [t.value for t in TaskStatus]
        if status and status != "all" and status not in known:
            raise HTTPException(
                422, f"status must be one of {', '.join([*known, 'all'])}, not {status!r}"
            )
        with Session(engine) as s:
            wanted = None if not status or status == "all" else status
            rows = list_tasks(s, status=wanted, limit=limit, now=clock())
            return [task_dict(t) for t in rows]

    @router.get("/stats")
    def task_stats() -> dict[str, Any]:
        """The call desk's figures: waiting, oldest wait, handle time, per caller, outcomes."""
        with Session(engine) as s:
            return desk.stats(s, now=clock(), settings=get_settings())

    @router.get("/{task_id}")
    def one(task_id: int) -> dict[str, Any]:
        with Session(engine) as s:
            task = s.get(CallTask, task_id)
            if task is None:
                raise HTTPException(404, f"no call task {task_id}")
            return task_dict(task)

    @router.post("/{task_id}/claim")
    def claim(request: Request, task_id: int, body: ClaimBody) -> dict[str, Any]:
        by = _actor(request, body.by)
        with Session(engine, expire_on_commit=False) as s:
            try:
                return task_dict(claim_task(s, task_id, by=by, now=clock()))
            except TaskError as exc:
                raise refused(exc) from None

    @router.post("/{task_id}/release")
    def release(request: Request, task_id: int, body: ClaimBody) -> dict[str, Any]:
        by = _actor(request, body.by)
        with Session(engine, expire_on_commit=False) as s:
            try:
                return task_dict(task_states.release(s, task_id, by=by, now=clock()))
            except TaskError as exc:
                raise refused(exc) from None

    @router.post("/{task_id}/wrap")
    def wrap(request: Request, task_id: int, body: ClaimBody) -> dict[str, Any]:
        """The call is placed: the task stays with its caller until a disposition is saved."""
        by = _actor(request, body.by)
        with Session(engine, expire_on_commit=False) as s:
            try:
                return task_dict(task_states.start_wrapup(s, task_id, by=by, now=clock()))
            except TaskError as exc:
                raise refused(exc) from None

    @router.post("/{task_id}/reassign")
    def reassign(request: Request, task_id: int, body: ReassignBody) -> dict[str, Any]:
        by = _actor(request, None)
        with Session(engine, expire_on_commit=False) as s:
            try:
                task = task_states.reassign(
                    s, task_id, to=body.to, by=by, now=clock(), reservation=reservation()
                )
            except TaskError as exc:
                raise refused(exc) from None
            return task_dict(task)

    @router.post("/{task_id}/complete")
    def complete(request: Request, task_id: int, body: CompleteBody) -> dict[str, Any]:
        by = _actor(request, body.by)
        with Session(engine, expire_on_commit=False) as s:
            try:
                task = complete_task(
                    s,
                    task_id,
                    body.outcome,
                    by=by,
                    now=clock(),
                    promised=body.promised,
                    phone=body.phone,
                    note=body.note,
                    no_number=body.no_number,
                    per_vendor={
                        vendor_id: Disposition(v.outcome, v.promised, v.phone, v.no_number, v.note)
                        for vendor_id, v in body.vendors.items()
                    },
                )
            except TaskError as exc:
                raise refused(exc) from None
            return task_dict(task)

    return router
