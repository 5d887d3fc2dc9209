"""Shared CLI plumbing: settings that fail cleanly, the console, the engine, `--now`."""

from __future__ import annotations

import logging
from datetime import date, datetime

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import Engine

from comms.db import get_engine
from comms.redact import SERVER_LOGGERS, guard_loggers, install_redaction
from comms.settings import Settings, SettingsError, get_settings
from comms.timeutil import parse_now

console = Console(soft_wrap=True)
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        raise fail(str(exc)) from None


def engine() -> Engine:
    return get_engine(settings().effective_database_url)


def now_option(value: str | None) -> datetime:
    """`--now`: ISO 8601; without an offset, a time in the organization's zone."""
    try:
        return parse_now(value, settings().zone if value else None)
    except ValueError as exc:
        raise fail(str(exc)) from None


def date_option(value: str | None, *, default: datetime) -> date:
    if not value:
        return default.astimezone(settings().zone).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"--as-of: not an ISO date (YYYY-MM-DD): {value!r}") from None


def setup_logging(level: str) -> None:
    """Log to stderr with email local parts and phone numbers redacted everywhere.

    The root logger's handlers get a redacting formatter (message, traceback and stack) and
    filter; the web server's loggers (uvicorn's, whose handlers uvicorn installs from its own
    log_config, before or after this call) are guarded so their handlers redact too.
    """
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    install_redaction()
    guard_loggers(SERVER_LOGGERS)
