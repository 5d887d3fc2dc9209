"""CLI: `comms tasks list|claim|complete`, `comms sms-optouts`, `comms webhooks-rerun`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import typer
from rich.table import Table
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from comms.cli.context import console, engine, err_console, fail, now_option, settings
from comms.redact import redact, redact_phone
from telephony.callbacks import Callbacks
from telephony.calllog import import_spilled
from telephony.events import reprocess
from telephony.models import SmsOptOut
from telephony.tasks import OUTCOMES, TaskError, claim_task, complete_task, list_tasks

tasks_app = typer.Typer(help="Call-center tasks: list, claim, complete.", no_args_is_help=True)


@tasks_app.command("list")
def tasks_list(
    status: str = typer.Option("open", help="open, claimed, done or all."),
    limit: int = typer.Option(50, min=1),
) -> None:
    """List call tasks, most urgent first."""
    with Session(engine()) as s:
        rows = list_tasks(s, status=None if status == "all" else status, limit=limit)
        table = Table("id", "priority", "due", "status", "call", "number", "reason", "case")
        for t in rows:
            table.add_row(
                str(t.id),
                str(t.priority),
                t.due_at.isoformat(timespec="minutes") if t.due_at else "",
                t.status + (f" ({t.claimed_by})" if t.claimed_by else ""),
                f"{t.target_kind}: {t.target_name}",
                t.phone or "",
                t.reason,
                str(t.case_id or ""),
            )
        console.print(table)


@tasks_app.command("claim")
def tasks_claim(
    task_id: int,
    by: str = typer.Option(..., "--by", help="Who claims it."),
    now: str | None = typer.Option(None, "--now", help="ISO time (default: now)."),
) -> None:
    """Claim a task (atomic: one staff member at a time) and print its script."""
    with Session(engine(), expire_on_commit=False) as s:
        try:
            task = claim_task(s, task_id, by=by, now=now_option(now))
        except TaskError as exc:
            raise fail(str(exc)) from None
        console.print(
            f"Task {task.id} claimed by {by}. Call {task.target_kind} "
            f"{task.target_name} at {task.phone or '(no number)'}.",
            highlight=False,
        )
        if task.recording_url:
            console.print(f"Voicemail: {task.recording_url}", highlight=False)
        console.print(task.script, markup=False, highlight=False)


@tasks_app.command("complete")
def tasks_complete(
    task_id: int,
    outcome: str = typer.Argument(..., help=", ".join(sorted(OUTCOMES))),
    by: str = typer.Option(..., "--by"),
    promised: str | None = typer.Option(None, "--promised", help="Date promised (reached)."),
    phone: str | None = typer.Option(None, "--phone", help="The new number (wrong_number)."),
    note: str = typer.Option("", "--note"),
    now: str | None = typer.Option(None, "--now"),
) -> None:
    """Record a task's outcome; it is fed back to the case's workflow."""
    promised_date = None
    if promised:
        try:
            promised_date = date.fromisoformat(promised)
        except ValueError:
            raise fail(f"--promised: not an ISO date (YYYY-MM-DD): {promised!r}") from None
    with Session(engine(), expire_on_commit=False) as s:
        try:
            task = complete_task(
                s,
                task_id,
                outcome,
                by=by,
                now=now_option(now),
                promised=promised_date,
                phone=phone,
                note=note,
            )
        except TaskError as exc:
            raise fail(str(exc)) from None
        console.print(f"Task {task.id}: {outcome} recorded.", highlight=False)


def sms_optouts(
    show_all: bool = typer.Option(False, "--all", help="Include opted-in again."),
) -> None:
    """Numbers that opted out of SMS (mirror of the carrier's STOP list)."""
    with Session(engine()) as s:
        query = select(SmsOptOut).order_by(col(SmsOptOut.opted_out_at))
        if not show_all:
            query = query.where(col(SmsOptOut.active))
        table = Table("number", "keyword", "opted out", "active")
        for row in s.exec(query).all():
            table.add_row(
                redact_phone(row.phone),
                row.keyword,
                row.opted_out_at.isoformat(timespec="minutes"),
                str(row.active),
            )
        console.print(table)


def webhooks_rerun(
    force: bool = typer.Option(
        False, "--force", help="Re-run the permanent failures too (after fixing their cause)."
    ),
    now: str | None = typer.Option(None, "--now", help="ISO time."),
) -> None:
    """Re-run the stored Twilio callbacks not processed yet: the quarantined ones whose
    failure is transient (their processing failed), any left by a crash, and call-log rows
    the database refused. A permanent failure (a setting, a template) is named and left
    unless --force. Exits 1 when a re-run one is still not processed (each named with its
    kind and reason)."""
    when = now_option(now)
    db = engine()
    try:
        imported = import_spilled(db)
    except ValueError as exc:
        raise fail(str(exc)) from None
    except DBAPIError as exc:  # the files stay; a later re-run imports them
        raise fail(
            f"the database is unavailable ({redact(str(exc.orig))}); nothing removed"
        ) from None
    if imported:
        console.print(f"{imported} call-log row(s) read from the quarantine folder.")
    report = reprocess(db, Callbacks(settings()).handlers(), now=when, force=force)
    console.print(f"{report.processed} callback(s) processed.")
    for event_id, kind, code, error in report.held:
        err_console.print(
            f"callback {event_id} ({kind}) not re-run: permanent ({code}): {redact(error)}; "
            "--force re-runs it",
            markup=False,
            highlight=False,
        )
    for event_id, kind, error in report.failed:
        err_console.print(
            f"callback {event_id} ({kind}) still failing: {redact(error)}",
            markup=False,
            highlight=False,
        )
    for kind, count in sorted(report.unhandled.items()):
        err_console.print(
            f"{count} callback(s) of kind {kind!r} not re-run: no handler for that kind",
            markup=False,
            highlight=False,
        )
    if report.failed or report.unhandled:
        raise typer.Exit(1)


def register(app: typer.Typer, *, web: Callable[..., None]) -> None:
    """Add this package's commands to the `comms` app. `comms web`, the root's (it serves
    every package's routes), is listed with them."""
    app.add_typer(tasks_app, name="tasks")
    app.command("web")(web)
    app.command("sms-optouts")(sms_optouts)
    app.command("webhooks-rerun")(webhooks_rerun)
