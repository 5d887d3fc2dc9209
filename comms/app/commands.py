"""The core's commands: init, db upgrade, profiles load, import, status."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from comms.cli.context import console, date_option, engine, fail, now_option, settings
from comms.db import session_scope
from comms.migrate import upgrade
from comms.profiles import load_profiles
from comms.roster import RosterError, import_roster
from comms.roster.reader import RosterFileError
from comms.verdicts import all_verdicts, status_report
from comms.yamlload import DataFileError

STATUS_STYLE = {
    "compliant": "green",
    "expiring": "yellow",
    "non_compliant": "red",
    "expired": "bold red",
    "missing": "magenta",
}

db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
profiles_app = typer.Typer(help="Requirement profiles.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    upgrade(engine(), revision)
    console.print(f"database at [bold]{revision}[/bold]: {settings().effective_database_url}")


@profiles_app.command("load")
def profiles_load(path: Path) -> None:
    """Load the requirement profiles in a YAML file or a folder of them."""
    try:
        with session_scope(engine()) as session:
            rows = load_profiles(session, path)
            names = [r.name for r in rows]
    except DataFileError as exc:
        raise fail(str(exc)) from None
    console.print(f"loaded {len(names)} profile(s): {', '.join(names)}")


def init(
    profiles: Path = typer.Option(Path("config/requirements"), help="Profiles to load."),
) -> None:
    """Create (or migrate) the database and load the requirement profiles."""
    upgrade(engine())
    if profiles.exists():
        profiles_load(profiles)
    console.print("[green]ready[/green]")


def import_command(
    file: Path,
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Import the good rows; write rejects to FILE.rejected.csv."
    ),
    default_profile: str | None = typer.Option(None, help="Profile for rows that name none."),
    now: str | None = typer.Option(None, "--now", help="Timestamp for created rows (ISO)."),
) -> None:
    """Import a roster spreadsheet (.csv or .xlsx): one row per policy."""
    cfg = settings()
    at = now_option(now)
    with Progress(
        TextColumn("validating"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("rows", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            with session_scope(engine()) as session:
                result = import_roster(
                    session,
                    file,
                    now=at,
                    region=cfg.default_region,
                    skip_invalid=skip_invalid,
                    default_profile=default_profile,
                    progress=progress,
                )
        except RosterFileError as exc:
            raise fail(str(exc)) from None
        except RosterError as exc:
            for line in exc.lines():
                typer.echo(line)
            raise fail(f"{len(exc.problems)} problem(s) in {file}; nothing was imported") from None
    for problem in result.problems:
        typer.echo(problem.format(str(file)))
    if result.unknown_headers:
        console.print(f"ignored columns: {', '.join(result.unknown_headers)}")
    for merged in result.merged:
        console.print(f"{file}: {merged}", markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"{result.imported_rows} row(s) imported, {result.rejected_rows} rejected; "
        f"vendors +{result.vendors_created} ~{result.vendors_updated}, "
        f"agents +{result.agents_created}, "
        f"policies +{result.policies_created} ~{result.policies_updated}"
    )
    if result.rejected_file:
        console.print(f"rejected rows written to {result.rejected_file}")


def status(
    as_of: str | None = typer.Option(None, "--as-of", help="Date to judge at (YYYY-MM-DD)."),
    vendor: str | None = typer.Option(None, "--vendor", help="Only this vendor."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    now: str | None = typer.Option(None, "--now", help="The current time (ISO)."),
) -> None:
    """Compliance status: counts by status, and each vendor's deficiencies."""
    day = date_option(as_of, default=now_option(now))
    with session_scope(engine()) as session:
        statuses = all_verdicts(session, day, vendor_name=vendor)
        report = status_report(statuses, day)
    if vendor and not statuses:
        raise fail(f"no vendor named {vendor!r}")
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    counts = Table(title=f"Compliance as of {report['as_of']}")
    for name in report["counts"]:
        counts.add_column(name, justify="right", style=STATUS_STYLE[name])
    counts.add_row(*(str(n) for n in report["counts"].values()))
    console.print(counts)
    table = Table(show_lines=False)
    table.add_column("vendor")
    table.add_column("status")
    table.add_column("next expiration")
    table.add_column("deficiencies")
    for item in report["vendors"]:
        table.add_row(
            item["name"],
            f"[{STATUS_STYLE[item['status']]}]{item['status']}[/]",
            item["next_expiration"] or "-",
            "\n".join(d["message"] for d in item["deficiencies"]) or "-",
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(profiles_app, name="profiles")
    app.command("init")(init)
    app.command("import")(import_command)
    app.command("status")(status)
