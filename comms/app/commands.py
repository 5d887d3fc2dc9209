"""The core's commands: init, db upgrade, profiles load, import, status."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from comms.cli.context import console, engine, fail, now_option, settings
from comms.db import session_scope
from comms.migrate import upgrade
from comms.profiles import load_profiles
from comms.projects import load_projects
from comms.roster import RosterError, import_roster
from comms.roster.reader import RosterFileError
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
projects_app = typer.Typer(
    help="Projects (a vendor's holder and description).", no_args_is_help=True
)


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
            rows = load_profiles(session, path)  # a changed one's vendors' verdicts follow
            names = [r.name for r in rows]
    except DataFileError as exc:
        raise fail(str(exc)) from None
    console.print(f"loaded {len(names)} profile(s): {', '.join(names)}")


@projects_app.command("load")
def projects_load(path: Path) -> None:
    """Load the projects in a YAML file or a folder of them."""
    try:
        with session_scope(engine()) as session:
            names = [r.name for r in load_projects(session, path)]
    except DataFileError as exc:
        raise fail(str(exc)) from None
    console.print(f"loaded {len(names)} project(s): {', '.join(names)}")


def init(
    profiles: Path = typer.Option(Path("config/requirements"), help="Profiles to load."),
    projects: Path = typer.Option(Path("config/projects"), help="Projects to load."),
) -> None:
    """Create (or migrate) the database and load the requirement profiles and projects."""
    upgrade(engine())
    if profiles.exists():
        profiles_load(profiles)
    if projects.exists():
        projects_load(projects)
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


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(profiles_app, name="profiles")
    app.add_typer(projects_app, name="projects")
    app.command("init")(init)
    app.command("import")(import_command)
