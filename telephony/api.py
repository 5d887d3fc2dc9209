"""JSON API for the staff workspace: list, claim and complete call tasks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import Session

from telephony.models import CallTask
from telephony.tasks import TaskError, claim_task, complete_task, list_tasks, task_dict


class ClaimBody(BaseModel):
    by: str


class CompleteBody(BaseModel):
    by: str
    outcome: Literal[
        "reached",
        "promised",
        "voicemail",
        "voicemail_left",
        "no_answer",
        "wrong_number",
        "resolved",
    ]
    promised: date | None = None
    phone: str | None = None
    note: str = ""


def make_router(engine: Engine, *, clock: Callable[[], datetime]) -> APIRouter:
    router = APIRouter(prefix="/api/tasks", tags=["call tasks"])

    @router.get("")
    def tasks(status: str | None = "open", limit: int = 100) -> list[dict[str, Any]]:
        with Session(engine) as s:
            return [task_dict(t) for t in list_tasks(s, status=status or None, limit=limit)]

    @router.get("/{task_id}")
    def one(task_id: int) -> dict[str, Any]:
        with Session(engine) as s:
            task = s.get(CallTask, task_id)
            if task is None:
                raise HTTPException(404, f"no call task {task_id}")
            return task_dict(task)

    @router.post("/{task_id}/claim")
    def claim(task_id: int, body: ClaimBody) -> dict[str, Any]:
        with Session(engine, expire_on_commit=False) as s:
            try:
                return task_dict(claim_task(s, task_id, by=body.by, now=clock()))
            except TaskError as exc:
                raise HTTPException(409, str(exc)) from None

    @router.post("/{task_id}/complete")
    def complete(task_id: int, body: CompleteBody) -> dict[str, Any]:
        with Session(engine, expire_on_commit=False) as s:
            try:
                task = complete_task(
                    s,
                    task_id,
                    body.outcome,
                    by=body.by,
                    now=clock(),
                    promised=body.promised,
                    phone=body.phone,
                    note=body.note,
                )
            except TaskError as exc:
                raise HTTPException(409, str(exc)) from None
            return task_dict(task)

    return router
