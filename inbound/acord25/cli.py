"""`comms extract FILE [--json]`: the typer command, added to an app by `register`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from . import extract_certificate
from .errors import ExtractionError
from .schema import Extraction, flatten


def _render(path: Path, result: Extraction, console: Console) -> None:
    title = f"{path.name}: " + ("ACORD 25" if result.is_acord25 else "not an ACORD 25")
    table = Table(title=title)
    table.add_column("field")
    table.add_column("value")
    table.add_column("conf", justify="right")
    table.add_column("source")
    for key, value in flatten(result.data).items():
        if value is None or value == {} or value == []:
            continue
        conf = result.confidence.get(key)
        style = "yellow" if conf is not None and conf < 0.8 else None
        table.add_row(
            key,
            str(value),
            f"{conf:.2f}" if conf is not None else "",
            result.sources.get(key, ""),
            style=style,
        )
    console.print(table)
    for e in result.endorsements:
        console.print(f"endorsement page {e['page']}: {', '.join(e['forms'])}")
    for w in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")


NOT_ACORD25 = 3  # the exit code of a readable file that is not an ACORD 25


def _found(result: Extraction) -> str:
    """What the document seems to be, from the extractor's warnings (e.g. another form)."""
    said = next((w for w in result.warnings if "ACORD" in w or "not" in w.lower()), None)
    return f" ({said})" if said else ""


def register(app: typer.Typer) -> None:
    """Add the `extract` command to `app`."""

    @app.command("extract")
    def extract(
        file: Path = typer.Argument(..., help="PDF or image (PNG, JPEG, TIFF) of a certificate"),
        as_json: bool = typer.Option(False, "--json", help="print the extraction as JSON"),
        timeout: float = typer.Option(60.0, help="time limit in seconds"),
    ) -> None:
        """Extract an ACORD 25 certificate of liability insurance.

        Exit codes: 0 an ACORD 25 was read; 2 the file could not be read (missing, corrupt,
        encrypted, not a PDF or image, over a limit); 3 it was read but is not an ACORD 25
        (another form, or no certificate at all): what was found is still printed."""
        console = Console()
        err = Console(stderr=True)
        try:
            data = file.read_bytes()
        except OSError as exc:
            err.print(f"error: cannot read {file}: {exc.strerror}")
            raise typer.Exit(2) from exc
        try:
            result = extract_certificate(data, filename=file.name, timeout_s=timeout)
        except ExtractionError as exc:
            err.print(f"error: {file}: {exc.reason} ({exc.code})")
            raise typer.Exit(2) from exc
        if as_json:
            payload: dict[str, Any] = result.to_json()
            typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        else:
            _render(file, result, console)
        if not result.is_acord25:
            err.print(
                f"error: {file}: not an ACORD 25 certificate of liability insurance"
                f"{_found(result)}; send the ACORD 25 itself",
                soft_wrap=True,
            )
            raise typer.Exit(NOT_ACORD25)
