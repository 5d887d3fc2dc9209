"""The call desk, `/calls` (callers and admins): the queue (live over SSE), a task screen with
the script, the vendor's and agent's details, timeline and certificates, the call button and
the required wrap-up, and `/calls/stats` for the team lead. Every action is a state
transition of `telephony.task_states` (the server decides who holds a task)."""

from __future__ import annotations

import asyncio
from datetime import date
from types import SimpleNamespace
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from sqlmodel import Session, col, select

from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import HEADERS, page_route, render
from comms.app.workspace.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    PageError,
    check_csrf,
    csrf_matches,
    require_staff,
    staff_in,
)
from comms.models import Agent, Certificate, Policy, Vendor
from comms.models.verdicts import VendorVerdict
from comms.staff.models import Role
from comms.staff.sessions import SignedIn
from comms.stored_verdicts import valid_on
from telephony import desk, desk_call, task_states
from telephony.call_script import histories
from telephony.models import CallTask
from telephony.tasks import (
    DISPOSITIONS,
    Disposition,
    TaskConflict,
    TaskError,
    claim_task,
    finish_task,
    reservation,
)

CALLERS = (Role.CALLER, Role.ADMIN)
ALLOWED = {r.value for r in CALLERS}
LABELS = {
    "reached": "Reached",
    "promised": "Promised a date",
    "renewal_on_way": "Renewal on its way",
    "voicemail_left": "Voicemail left",
    "no_answer": "No answer",
    "busy": "Busy",
    "wrong_number": "Wrong number",
    "opted_out": "Opted out",
    "resolved": "Resolved",
}


def _details(
    session: Session, task: CallTask, ws: Workspace
) -> tuple[list[dict[str, Any]], set[int]]:
    """For each vendor the call is about: the vendor, its agent, its certificates with their
    policies and its case's timeline; and the vendors now compliant (by their stored
    verdicts). Five indexed queries for the whole task, however many vendors it covers."""
    items = task.items or [{"vendor_id": task.vendor_id, "case_id": task.case_id}]
    vendor_ids = sorted({int(i["vendor_id"]) for i in items if i.get("vendor_id")})
    vendors: dict[int, Vendor] = {}
    compliant: set[int] = set()
    agents: dict[int, Agent] = {}
    certificates: dict[int, list[tuple[Certificate, list[Policy]]]] = {}
    if vendor_ids:
        day = ws.today()
        for found, status, computed_for, changes_on in session.exec(
            select(
                Vendor,
                col(VendorVerdict.status),
                col(VendorVerdict.computed_for),
                col(VendorVerdict.changes_on),
            )
            .outerjoin(VendorVerdict, col(VendorVerdict.vendor_id) == col(Vendor.id))
            .where(col(Vendor.id).in_(vendor_ids))
        ):
            vendors[found.id or 0] = found
            stored = SimpleNamespace(computed_for=computed_for, changes_on=changes_on)
            if status == "compliant" and valid_on(stored, day):
                compliant.add(found.id or 0)
        agent_ids = sorted({v.agent_id for v in vendors.values() if v.agent_id is not None})
        if agent_ids:
            for agent in session.exec(select(Agent).where(col(Agent.id).in_(agent_ids))):
                agents[agent.id or 0] = agent
        found_certificates = session.exec(
            select(Certificate)
            .where(col(Certificate.vendor_id).in_(vendor_ids))
            .order_by(col(Certificate.received_at).desc(), col(Certificate.id).desc())
        ).all()
        policies: dict[int, list[Policy]] = {}
        if found_certificates:
            for policy in session.exec(
                select(Policy)
                .where(col(Policy.certificate_id).in_([c.id for c in found_certificates]))
                .order_by(col(Policy.id))
            ):
                policies.setdefault(policy.certificate_id, []).append(policy)
        for cert in found_certificates:
            entry = (cert, policies.get(cert.id or 0, []))
            certificates.setdefault(cert.vendor_id, []).append(entry)
    case_ids = sorted({int(i["case_id"]) for i in items if i.get("case_id")})
    timelines = histories(session, case_ids, ws.settings.zone)
    details = []
    for item in items:
        vendor = vendors.get(int(item.get("vendor_id") or 0))
        details.append(
            {
                "item": item,
                "vendor": vendor,
                "agent": agents.get(vendor.agent_id or 0) if vendor is not None else None,
                "certificates": certificates.get(vendor.id or 0, []) if vendor else [],
                "timeline": timelines.get(int(item.get("case_id") or 0), []),
            }
        )
    return details, compliant


def _task(session: Session, task_id: int) -> CallTask:
    task = session.get(CallTask, task_id)
    if task is None:
        raise PageError(404, f"There is no call task {task_id}.")
    return task


def router(ws: Workspace) -> APIRouter:
    api = APIRouter(route_class=page_route(ws))
    callers = require_staff(ws, CALLERS)

    def changed(task_id: int, action: str, who: SignedIn) -> None:
        ws.hub.publish("calls", {"task": task_id, "action": action, "by": who.name})

    def queue_context(who: SignedIn) -> dict[str, Any]:
        now = ws.now()
        with ws.read() as session:
            ended = task_states.reservations_ended(session, now=now)
        if ended:  # given back as the queue is read, not only by the scheduler's next pass
            with ws.write() as session:
                if task_states.expire_reservations(session, now=now):
                    ws.hub.publish("calls", {"action": "expired", "by": who.name})
        with ws.read() as session:
            return {
                "rows": desk.queue(session, now=now, settings=ws.settings),
                "mine": desk.held_by(session, who.name, now=now),
                "now": now,
            }

    @api.get("/calls")
    def calls_page(request: Request, who: SignedIn = Depends(callers)) -> Response:
        note = request.query_params.get("note", "")
        return render(
            ws, request, "calls/desk.html", title="Call desk", note=note, **queue_context(who)
        )

    @api.get("/calls/queue")
    def queue_fragment(request: Request, who: SignedIn = Depends(callers)) -> Response:
        return render(ws, request, "calls/_queue.html", title="Queue", **queue_context(who))

    # The desk's hot path ("next", the task screen, the wrap-up saved) signs the caller in on
    # the database session that does the work: one pool checkout and one thread per request.
    async def posted(request: Request) -> tuple[dict[str, str], str | None]:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        return form, request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)

    @api.post("/calls/next")
    async def take_next(request: Request) -> Response:
        _form, csrf = await posted(request)

        def claim() -> tuple[SignedIn, int | None]:
            with ws.write() as session:
                who = staff_in(ws, request, ALLOWED, session)
                csrf_matches(who, csrf)
                return who, task_states.claim_next_id(
                    session, by=who.name, now=ws.now(), reservation=reservation(ws.settings)
                )

        who, task_id = await asyncio.to_thread(claim)
        if task_id is None:
            return RedirectResponse("/calls?note=empty", status_code=303)
        changed(task_id, "claimed", who)
        return RedirectResponse(f"/calls/{task_id}", status_code=303)

    async def act(request: Request, who: SignedIn, task_id: int, action: str) -> Response:
        await check_csrf(request, who)

        def run() -> None:
            with ws.write() as session:
                now = ws.now()
                try:
                    if action == "claim":
                        claim_task(session, task_id, by=who.name, now=now, settings=ws.settings)
                    elif action == "release":
                        task_states.release(session, task_id, by=who.name, now=now)
                    elif action == "call":
                        form_phone = request.state.form.get("own_phone")
                        task = task_states.start_wrapup(session, task_id, by=who.name, now=now)
                        desk_call.place_call(
                            session,
                            task,
                            by=who.name,
                            now=now,
                            settings=ws.settings,
                            own_phone=form_phone if isinstance(form_phone, str) else None,
                        )
                except TaskConflict as exc:
                    raise PageError(409, str(exc), title="Taken") from None
                except TaskError as exc:
                    raise PageError(422, str(exc)) from None

        request.state.form = await request.form()
        await asyncio.to_thread(run)
        changed(task_id, action, who)
        target = "/calls" if action == "release" else f"/calls/{task_id}"
        return RedirectResponse(target, status_code=303)

    @api.post("/calls/{task_id}/claim")
    async def claim(request: Request, task_id: int, who: SignedIn = Depends(callers)) -> Response:
        return await act(request, who, task_id, "claim")

    @api.post("/calls/{task_id}/release")
    async def release(request: Request, task_id: int, who: SignedIn = Depends(callers)) -> Response:
        return await act(request, who, task_id, "release")

    @api.post("/calls/{task_id}/call")
    async def call(request: Request, task_id: int, who: SignedIn = Depends(callers)) -> Response:
        return await act(request, who, task_id, "call")

    def task_page(
        request: Request,
        who: SignedIn | None,
        task_id: int,
        *,
        error: str = "",
        status: int = 200,
    ) -> Response:
        """The task screen (`who`: the caller, or None to sign them in on the page's session)."""
        now = ws.now()
        with ws.read() as session:
            if who is None:
                who = staff_in(ws, request, ALLOWED, session)
            task = _task(session, task_id)
            details, compliant = _details(session, task, ws)
            row = desk.queue_row(session, task, now=now, settings=ws.settings, compliant=compliant)
        ended = (
            task.status == "claimed"
            and task.reserved_until is not None
            and task.reserved_until <= now
        )
        held = task.status in ("claimed", "wrapping") and task.claimed_by == who.name
        held = held and not ended  # a reservation that has ended is nobody's
        return render(
            ws,
            request,
            "calls/task.html",
            status=status,
            title=f"Call {task.target_name}",
            task=task,
            row=row,
            details=details,
            held=held,
            available=task.status == "open" or ended,
            dispositions=[(k, LABELS[k]) for k in DISPOSITIONS],
            call=task.outcome_data.get("call") or {},
            error=error,
            sandbox=not ws.settings.twilio_configured,
            own_phone=ws.settings.caller_phones.get(who.name, ""),
        )

    @api.get("/calls/stats")
    def stats_page(request: Request, _who: SignedIn = Depends(callers)) -> Response:
        with ws.read() as session:
            figures = desk.stats(session, now=ws.now(), settings=ws.settings)
        return render(ws, request, "calls/stats.html", title="Call figures", figures=figures)

    @api.get("/calls/stats.json")
    def stats_json(_who: SignedIn = Depends(callers)) -> Response:
        with ws.read() as session:
            figures = desk.stats(session, now=ws.now(), settings=ws.settings)
        return JSONResponse(figures, headers=HEADERS)

    @api.get("/calls/{task_id}")
    def task_screen(request: Request, task_id: int) -> Response:
        return task_page(request, None, task_id)

    @api.post("/calls/{task_id}/complete")
    async def complete(request: Request, task_id: int) -> Response:
        form, csrf = await posted(request)
        signed: list[SignedIn] = []

        def disposition(prefix: str) -> Disposition | None:
            outcome = form.get(prefix + "outcome", "").strip()
            if not outcome:
                return None
            promised = form.get(prefix + "promised", "").strip()
            try:
                day = date.fromisoformat(promised) if promised else None
            except ValueError:
                raise TaskError(f"the promised date {promised[:20]!r} is not a date") from None
            return Disposition(
                outcome,
                day,
                form.get(prefix + "phone", "").strip() or None,
                form.get(prefix + "no_number") == "on",
                form.get("note", "").strip(),
            )

        def run() -> None:
            with ws.write() as session:
                who = staff_in(ws, request, ALLOWED, session)
                csrf_matches(who, csrf)
                signed.append(who)
                task = _task(session, task_id)
                main = disposition("")
                if main is None:
                    raise TaskError("pick a disposition (keys 1–9) before saving")
                per_vendor = {}
                for item in task.items:
                    vid = item.get("vendor_id")
                    chosen = disposition(f"v{vid}_") if vid else None
                    if chosen is not None:
                        per_vendor[int(vid)] = chosen  # type: ignore[arg-type]
                finish_task(
                    session, task_id, main, by=who.name, now=ws.now(), per_vendor=per_vendor
                )

        try:
            await asyncio.to_thread(run)
        except TaskConflict as exc:
            return task_page(request, signed[0], task_id, error=str(exc), status=409)
        except TaskError as exc:
            return task_page(request, signed[0], task_id, error=str(exc), status=422)
        changed(task_id, "done", signed[0])
        return RedirectResponse("/calls?note=saved", status_code=303)

    return api
