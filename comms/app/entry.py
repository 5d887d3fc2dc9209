"""The `comms` command's entry point: a command that needs only its own package starts without
loading the rest of the service.

`comms extract FILE` reads a certificate in a sandbox child. It needs neither the database nor
the settings nor the metrics, whose imports (SQLModel, SQLAlchemy, Prometheus, every package's
tables and actors) take most of a second before the extractor starts. That command is run by a
small app of its own; every other command, and `comms --help`, loads the whole `comms.app.cli`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import typer

ROOT_OPTIONS_WITH_VALUE = ("--config",)


def command_of(argv: Sequence[str]) -> str | None:
    """The command named in `argv` (the arguments after `comms`), past the root's options."""
    args = iter(argv)
    for arg in args:
        if arg in ROOT_OPTIONS_WITH_VALUE:
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def _extract_registrar() -> Callable[[typer.Typer], None]:
    from inbound.acord25 import cli

    return cli.register


# the commands that run without the service: name -> the `register(app)` that adds it
STANDALONE: dict[str, Callable[[], Callable[[typer.Typer], None]]] = {
    "extract": _extract_registrar,
}


def standalone_app(command: str) -> typer.Typer:
    """An app holding only `command`, with the root's options (as `comms.app.cli` has them)."""
    app = typer.Typer(name="comms", no_args_is_help=True, pretty_exceptions_enable=False)

    @app.callback()
    def _root(
        config: Path | None = typer.Option(
            None, "--config", help="TOML settings file (default: config/comms.toml when present)."
        ),
    ) -> None:
        if config is not None:  # nothing has read the settings yet: no cache to reset
            os.environ["COMMS_CONFIG"] = str(config)

    STANDALONE[command]()(app)
    return app


def main() -> None:
    command = command_of(sys.argv[1:])
    if command in STANDALONE:
        standalone_app(command)()
        return
    from comms.app.cli import main as service_main

    service_main()
