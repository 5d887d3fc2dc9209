"""The `comms` command. Each package adds its commands through a `register(app)` function;
the root's own (`run`, `worker`, `web`) are in `comms.app.service`."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from comms.app import commands, doctor, email_commands, registry, service, status_command
from comms.broker import BrokerUnreachable
from comms.settings import Settings, SettingsError, get_settings, reset_settings_cache
from comms.staff import cli as staff_cli
from comms.yamlload import DataFileError
from inbound import cli as inbound_cli
from inbound.acord25 import cli as acord25_cli
from telephony import cli as telephony_cli
from telephony import phone_cli
from workflows import cli as workflows_cli

if TYPE_CHECKING:
    from fastapi import FastAPI

app = typer.Typer(
    name="comms",
    help="Certificate-of-insurance compliance communications.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    config: Path | None = typer.Option(
        None, "--config", help="TOML settings file (default: config/comms.toml when present)."
    ),
) -> None:
    if config is not None:
        os.environ["COMMS_CONFIG"] = str(config)
        reset_settings_cache()


def _register_all() -> None:
    commands.register(app)
    status_command.register(app)
    email_commands.register(app)
    workflows_cli.register(
        app, metadata=registry.metadata, worker=service.worker_cmd, pass_steps=service.PASS_STEPS
    )
    inbound_cli.register(app)
    acord25_cli.register(app)
    telephony_cli.register(app, web=service.web_cmd)
    phone_cli.register(app, make_app=_phone_app)
    staff_cli.register(app)
    service.register(app)
    doctor.register(app)


def _phone_app(settings: Settings, clock: Callable[[], datetime]) -> FastAPI:
    """The app `comms phone` calls in-process (rows a choice makes wait for the sweep)."""
    from comms.app.web import create_app

    return create_app(settings, clock=clock, enqueue=lambda _id, _now: None)


_register_all()


def main() -> None:
    """`comms`: what a command could not get past (a data file, a setting, a database with no
    tables yet, a folder it cannot use) is one line naming it, not a traceback."""
    try:
        app()
    except (DataFileError, SettingsError) as exc:
        raise SystemExit(_error(str(exc))) from None
    except (OperationalError, ProgrammingError) as exc:
        unreachable = _database_unreachable(exc)
        if unreachable is not None:
            raise SystemExit(_error(unreachable)) from None
        if not _missing_table(exc):
            raise
        raise SystemExit(
            _error(f"the database has no tables yet: run `comms init` ({_first_line(exc)})")
        ) from None
    except BrokerUnreachable as exc:
        raise SystemExit(_error(str(exc))) from None
    except OSError as exc:
        if exc.filename is None:
            raise
        raise SystemExit(_error(f"{exc.filename}: {exc.strerror or exc}")) from None


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__


def _database_unreachable(exc: DBAPIError) -> str | None:
    """One line for a database that cannot be connected to (PostgreSQL: no such database, a
    wrong host or port, refused credentials), naming where it was looked for; None for any
    other error."""
    text = str(exc.orig or exc)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if not (
        text.startswith(("connection failed", "could not connect", "connection to server"))
        or sqlstate in ("3D000", "28P01", "28000")
    ):
        return None
    where = _database_place()
    missing = re.search(r'database "([^"]+)" does not exist', text)
    if missing:
        return (
            f"COMMS_DATABASE_URL: there is no database {missing.group(1)!r} on {where}:"
            f" create it (createdb {missing.group(1)}) or fix the URL, then run `comms init`"
        )
    if "Connection refused" in text or "could not translate host" in text:
        return (
            f"COMMS_DATABASE_URL: nothing answers on {where} ({_reason(text)}):"
            " is PostgreSQL running there, and are the host and port right?"
        )
    return f"COMMS_DATABASE_URL: cannot connect to {where}: {_reason(text)}"


def _reason(text: str) -> str:
    """The server's words, without the driver's preamble."""
    last = text.strip().splitlines()[0]
    return last.rsplit(" failed: ", 1)[-1].strip()


def _database_place() -> str:
    try:
        url = make_url(get_settings().effective_database_url)
    except Exception:  # the settings themselves failed: they name the problem elsewhere
        return "the configured server"
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _missing_table(exc: DBAPIError) -> bool:
    """SQLite's "no such table", PostgreSQL's undefined_table (42P01)."""
    orig = exc.orig
    return str(orig).startswith("no such table") or getattr(orig, "sqlstate", None) == "42P01"
