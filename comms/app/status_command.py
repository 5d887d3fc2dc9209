"""`comms status` and `comms verdicts check|refresh`.

`comms status` prints the counts by status, then the vendors needing attention, worst first
(at most `--limit`, 50; `--all` every vendor), with an `unreachable` flag beside the status.
Today's comes from the stored verdicts; `--as-of` another day computes from the records. The
output is streamed (`comms.status_stream`): memory does not follow the roster."""

from __future__ import annotations

import sys
from datetime import date

import typer

from comms.cli.context import console, date_option, engine, fail, now_option, settings
from comms.db import session_scope
from comms.status_stream import (
    Entry,
    counts,
    fresh_entries,
    stored_entries,
    stored_lines,
    worst,
    write_json,
    write_json_lines,
)
from comms.stored_verdicts import count_drift, drift, refresh_all, roll
from comms.verdict_drift import record_check

STATUS_STYLE = {
    "compliant": "green",
    "expiring": "yellow",
    "non_compliant": "red",
    "expired": "bold red",
    "missing": "magenta",
}
LIMIT = 50

verdicts_app = typer.Typer(help="Stored verdicts.", no_args_is_help=True)


def status(
    as_of: str | None = typer.Option(None, "--as-of", help="Date to judge at (YYYY-MM-DD)."),
    vendor: str | None = typer.Option(None, "--vendor", help="Only this vendor."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output, streamed."),
    show_all: bool = typer.Option(False, "--all", help="Every vendor, not the worst 50."),
    limit: int = typer.Option(LIMIT, "--limit", min=1, help="Vendors needing attention shown."),
    now: str | None = typer.Option(None, "--now", help="The current time (ISO)."),
) -> None:
    """Compliance status: counts by status, then the vendors needing attention, worst first."""
    at = now_option(now)
    today = at.astimezone(settings().zone).date()
    day = date_option(as_of, default=at)
    stored = day == today
    if stored:
        with session_scope(engine()) as session:
            roll(session, day=today, now=at)
    with session_scope(engine()) as session:
        if as_json:
            out = sys.stdout
            if stored and not vendor:
                n = write_json_lines(out.write, day, stored_lines(session), counts(session))
            else:
                entries = (
                    stored_entries(session, vendor_name=vendor)
                    if stored
                    else fresh_entries(session, day, vendor_name=vendor)
                )
                n = write_json(out.write, day, entries, None)
            out.flush()
            if vendor and n == 0:
                raise fail(f"no vendor named {vendor!r}")
            return
        if stored and not vendor:
            counted = counts(session)
            _print_counts(day, counted)
            if show_all:
                _print_rows(stored_entries(session, attention_only=False))
                return
            shown = _print_rows(stored_entries(session, attention_only=True, limit=limit))
            needing = sum(counted.values()) - counted["compliant"]
        else:
            source = (
                stored_entries(session, vendor_name=vendor)
                if stored
                else fresh_entries(session, day, vendor_name=vendor)
            )
            if show_all or vendor:
                rows = list(source) if vendor else None
                if rows is not None:
                    if not rows:
                        raise fail(f"no vendor named {vendor!r}")
                    tally = {s: 0 for s in STATUS_STYLE}
                    for r in rows:
                        tally[r.status] += 1
                    _print_counts(day, tally)
                    _print_rows(iter(rows))
                    return
                chosen, tally = worst(source, None)
            else:
                chosen, tally = worst(source, limit)
            _print_counts(day, tally)
            shown = _print_rows(iter(chosen))
            needing = sum(tally.values()) - tally["compliant"]
    if needing > shown:
        console.print(
            f"{needing - shown} more need attention: `comms status --all` lists every vendor"
        )


def _print_counts(day: date, counted: dict[str, int]) -> None:
    total = sum(counted.values())
    parts = [f"[{STATUS_STYLE[k]}]{k} {n}[/]" for k, n in counted.items()]
    console.print(f"Compliance as of {day.isoformat()}: {total} vendors — " + ", ".join(parts))


def _print_rows(entries: object) -> int:
    """One line per vendor (streamed): name, vendor ID, status and flag, next expiration,
    the deficiencies."""
    n = 0
    for entry in entries:  # type: ignore[attr-defined]
        assert isinstance(entry, Entry)
        if n == 0:
            typer.echo(
                f"{'vendor':<32} {'vendor ID':<10} {'status':<27} {'expires':<10} deficiencies"
            )
        flag = " · unreachable" if "unreachable" in entry.flags else ""
        status = f"{entry.status}{flag}"
        expires = entry.next_expiration.isoformat() if entry.next_expiration else "-"
        what = "; ".join(d["message"] for d in entry.deficiencies) or "-"
        code = entry.vendor_code or "-"
        typer.echo(f"{entry.name[:32]:<32} {code:<10} {status:<27} {expires:<10} {what}")
        n += 1
    return n


@verdicts_app.command("check")
def check(
    now: str | None = typer.Option(None, "--now", help="The current time (ISO)."),
    show: int = typer.Option(20, "--show", help="Drifted vendors listed."),
) -> None:
    """Compare every stored verdict with a fresh computation; exit 1 on any drift."""
    at = now_option(now)
    day = at.astimezone(settings().zone).date()
    found = 0
    with session_scope(engine()) as session:
        for item in drift(session, day=day):
            found += 1
            if found <= show:
                typer.echo(f"vendor {item.vendor_id}: differs in {', '.join(item.fields())}")
        wrong = count_drift(session)
        record_check(session, at=at, vendors=found, counts=len(wrong))  # for /metrics
    for (profile_key, status), (kept, actual) in wrong.items():
        typer.echo(f"count of {status} (profile {profile_key}): kept {kept}, actually {actual}")
    if found or wrong:
        console.print(f"[red]{found} stored verdict(s) differ from a fresh computation[/red]")
        raise typer.Exit(1)
    console.print(f"stored verdicts as of {day.isoformat()}: no drift")


@verdicts_app.command("roll")
def roll_command(
    now: str | None = typer.Option(None, "--now", help="The current time (ISO)."),
) -> None:
    """The daily roll alone (the scheduler's first pass of a day runs it): recompute the
    vendors whose verdict can have changed by today."""
    at = now_option(now)
    day = at.astimezone(settings().zone).date()
    with session_scope(engine()) as session:
        result = roll(session, day=day, now=at)
    console.print(
        f"{result.computed} verdict(s) recomputed, {result.written} written, "
        f"{result.changes} change(s) of status"
    )


@verdicts_app.command("refresh")
def refresh_command(
    now: str | None = typer.Option(None, "--now", help="The current time (ISO)."),
) -> None:
    """Recompute every vendor's stored verdict (after data was written by other means)."""
    at = now_option(now)
    day = at.astimezone(settings().zone).date()
    with session_scope(engine()) as session:
        result = refresh_all(session, day=day, now=at, reason="comms verdicts refresh")
    console.print(
        f"{result.computed} verdict(s) computed, {result.written} written, "
        f"{result.changes} change(s) of status"
    )


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.add_typer(verdicts_app, name="verdicts")
