"""The `comms` command. Each package adds its commands through a `register(app)` function."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from comms.cli import core, service
from comms.email import cli as email_cli
from comms.settings import reset_settings_cache
from inbound import cli as inbound_cli
from inbound.acord25 import cli as acord25_cli
from telephony import cli as telephony_cli
from workflows import cli as workflows_cli

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
    core.register(app)
    email_cli.register(app)
    workflows_cli.register(app)
    inbound_cli.register(app)
    acord25_cli.register(app)
    telephony_cli.register(app)
    service.register(app)


_register_all()


def main() -> None:
    app()
