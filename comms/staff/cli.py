"""`comms staff add|list|disable|passwd`: the workspace's accounts, from the command line."""

from __future__ import annotations

import getpass
import sys

import typer
from rich.table import Table

from comms.cli.context import console, engine, fail, now_option
from comms.db import session_scope
from comms.staff.accounts import (
    StaffError,
    add_staff,
    disable_staff,
    list_staff,
    set_password,
)
from comms.staff.passwords import PasswordError

staff_app = typer.Typer(help="Staff accounts of the web workspace.", no_args_is_help=True)

PASSWORD_STDIN = typer.Option(
    False, "--password-stdin", help="Read the password from standard input (one line)."
)
NOW = typer.Option(None, "--now", help="The current time (ISO).")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry for the uid (a container)
        return "cli"


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.removesuffix("\n").removesuffix("\r")
    value: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return value


@staff_app.command("add")
def add(
    name: str,
    role: str = typer.Option(..., "--role", help="compliance, caller or admin."),
    password_stdin: bool = PASSWORD_STDIN,
    now: str | None = NOW,
) -> None:
    """Create a staff account."""
    at = now_option(now)
    password = _password(password_stdin)
    try:
        with session_scope(engine()) as session:
            add_staff(session, name, role, password, actor=_actor(), now=at)
    except (StaffError, PasswordError) as exc:
        raise fail(str(exc)) from None
    console.print(f"staff [bold]{name}[/bold] added ({role})")


@staff_app.command("list")
def list_cmd() -> None:
    """The staff accounts."""
    with session_scope(engine()) as session:
        rows = [(s.name, s.role, s.disabled, s.created_at) for s in list_staff(session)]
    table = Table()
    for column in ("name", "role", "state", "created"):
        table.add_column(column)
    for name, role, disabled, created in rows:
        table.add_row(name, role, "disabled" if disabled else "active", created.isoformat())
    console.print(table)


@staff_app.command("disable")
def disable(name: str, now: str | None = NOW) -> None:
    """Disable an account and end its sessions."""
    at = now_option(now)
    try:
        with session_scope(engine()) as session:
            disable_staff(session, name, actor=_actor(), now=at)
    except StaffError as exc:
        raise fail(str(exc)) from None
    console.print(f"staff [bold]{name}[/bold] disabled; their sessions are ended")


@staff_app.command("passwd")
def passwd(name: str, password_stdin: bool = PASSWORD_STDIN, now: str | None = NOW) -> None:
    """Set a new password (ends the account's sessions)."""
    at = now_option(now)
    password = _password(password_stdin)
    try:
        with session_scope(engine()) as session:
            set_password(session, name, password, actor=_actor(), now=at)
    except (StaffError, PasswordError) as exc:
        raise fail(str(exc)) from None
    console.print(f"password of [bold]{name}[/bold] changed; their sessions are ended")


def register(app: typer.Typer) -> None:
    app.add_typer(staff_app, name="staff")
