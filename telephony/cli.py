"""CLI: `comms tasks list|claim|complete`, `comms sms-optouts`, `comms webhooks-rerun`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import typer
from rich.table import Table
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from comms.cli.context import console, engine, err_console, fail, now_option, settings
from comms.redact import redact
from telephony.callbacks import Callbacks
from telephony.calllog import import_spilled
from telephony.events import reprocess
from telephony.models import CallTask, SmsOptOut
from telephony.task_states import release
from telephony.tasks import (
    DISPOSITIONS,
    Disposition,
    TaskError,
    claim_task,
    complete_task,
    list_tasks,
)

tasks_app = typer.Typer(
    help="Call-center tasks: list, claim, release, complete.", no_args_is_help=True
)


def _why(task: CallTask) -> str:
    reasons: list[str] = []
    for item in task.items:
        name, why = item.get("vendor_name"), str(item.get("why") or item.get("reason") or "")
        reasons.append(f"{name}: {why}" if name and len(task.items) > 1 else why)
    return "; ".join(r for r in reasons if r) or task.reason.replace("_", " ")


def _vendors(task: CallTask) -> str:
    names = [str(i.get("vendor_name") or "") for i in task.items if i.get("vendor_name")]
    return ", ".join(names)


@tasks_app.command("list")
def tasks_list(
    status: str = typer.Option("open", help="open, claimed, wrapping, done or all."),
    limit: int = typer.Option(50, min=1),
    now: str | None = typer.Option(None, "--now", help="ISO time (default: now)."),
) -> None:
    """Call tasks, most urgent first: who to call, for which vendors, why, the number."""
    when = now_option(now)
    zone = settings().zone
    with Session(engine()) as s:
        rows = list_tasks(s, status=None if status == "all" else status, limit=limit, now=when)
        if not rows:
            console.print("no call tasks.", highlight=False)
        for t in rows:
            state = t.status
            if t.status == "claimed" and t.reserved_until and t.reserved_until <= when:
                state = "open (reservation ended)"
            elif t.claimed_by and t.status != "open":
                state += f" by {t.claimed_by}"
            due = t.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if t.due_at else ""
            lines = [
                f"#{t.id}  priority {t.priority}  due {due}  {state}",
                f"  call {t.target_kind} {t.target_name} at {t.phone or '(no number)'}",
            ]
            if _vendors(t):
                lines.append(f"  vendors: {_vendors(t)}")
            lines.append(f"  why: {_why(t)}")
            console.print("\n".join(lines), markup=False, highlight=False)


@tasks_app.command("claim")
def tasks_claim(
    task_id: int,
    by: str = typer.Option(..., "--by", help="Who claims it."),
    now: str | None = typer.Option(None, "--now", help="ISO time (default: now)."),
) -> None:
    """Reserve a task (one caller at a time, for COMMS_CALL_RESERVATION_MINUTES) and print
    its script."""
    with Session(engine(), expire_on_commit=False) as s:
        try:
            task = claim_task(s, task_id, by=by, now=now_option(now), settings=settings())
        except TaskError as exc:
            raise fail(str(exc)) from None
        until = task.reserved_until.astimezone(settings().zone) if task.reserved_until else None
        console.print(
            f"Task {task.id} reserved for {by}"
            + (f" until {until:%H:%M %Z}" if until else "")
            + f". Call {task.target_kind} {task.target_name} at {task.phone or '(no number)'}.",
            highlight=False,
        )
        if task.recording_url:
            console.print(f"Voicemail: {task.recording_url}", highlight=False)
        console.print(task.script, markup=False, highlight=False)


@tasks_app.command("release")
def tasks_release(
    task_id: int,
    by: str = typer.Option(..., "--by"),
    now: str | None = typer.Option(None, "--now"),
) -> None:
    """Give a reserved task back to the queue."""
    with Session(engine(), expire_on_commit=False) as s:
        try:
            release(s, task_id, by=by, now=now_option(now))
        except TaskError as exc:
            raise fail(str(exc)) from None
    console.print(f"Task {task_id} is back in the queue.", highlight=False)


def _date(value: str | None, option: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option}: not an ISO date (YYYY-MM-DD): {value!r}") from None


def _each(values: list[str]) -> dict[int, Disposition]:
    """`--each VENDOR_ID=OUTCOME[:DATE or NUMBER]`."""
    out: dict[int, Disposition] = {}
    for value in values:
        vendor, sep, rest = value.partition("=")
        outcome, _, extra = rest.partition(":")
        if not sep or not vendor.strip().isdigit() or not outcome:
            raise fail(f"--each: VENDOR_ID=OUTCOME[:DATE|NUMBER], not {value!r}")
        promised = _date(extra, "--each") if outcome in ("promised", "reached") else None
        phone = extra if outcome == "wrong_number" and extra else None
        no_number = outcome == "wrong_number" and not extra
        out[int(vendor)] = Disposition(outcome, promised, phone, no_number)
    return out


@tasks_app.command("complete")
def tasks_complete(
    task_id: int,
    outcome: str = typer.Argument(..., help=", ".join(DISPOSITIONS)),
    by: str = typer.Option(..., "--by"),
    promised: str | None = typer.Option(None, "--promised", help="Date promised (promised)."),
    phone: str | None = typer.Option(None, "--phone", help="The new number (wrong_number)."),
    no_number: bool = typer.Option(
        False, "--no-number", help="wrong_number, no new number given: stop dialing that one."
    ),
    each: list[str] = typer.Option(
        [], "--each", help="Per vendor of a call about several: VENDOR_ID=OUTCOME[:DATE|NUMBER]."
    ),
    note: str = typer.Option("", "--note"),
    now: str | None = typer.Option(None, "--now"),
) -> None:
    """Record a task's disposition; it drives each vendor's case."""
    promised_date = _date(promised, "--promised")
    per_vendor = _each(each)
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
                no_number=no_number,
                per_vendor=per_vendor,
            )
        except TaskError as exc:
            raise fail(str(exc)) from None
        for item in task.items:
            name = item.get("vendor_name") or "(no vendor)"
            console.print(
                f"Task {task.id}: {name}: {item.get('outcome')} recorded.", highlight=False
            )


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
                row.phone,  # operator output: the real number (logs are redacted)
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
