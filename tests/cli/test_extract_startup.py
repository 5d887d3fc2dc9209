"""`comms extract` starts without the service: the import boundary of its command path.

The command reads a certificate in a sandbox child; the database layer, the settings and the
metrics (SQLModel, SQLAlchemy, Prometheus) are most of a second of imports it has no use for.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from comms.app.entry import command_of

SAMPLE = (
    Path(__file__).resolve().parent.parent / "samples" / "acord25" / "acord_25_2016_03_sample.pdf"
)
SERVICE_ONLY = ("sqlalchemy", "sqlmodel", "prometheus_client", "comms.settings", "comms.db")

PROBE = """
import json, sys
from comms.app.entry import main
sys.argv = ["comms", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
roots = sorted({m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "sqlmodel",
    "prometheus_client") or m in ("comms.settings", "comms.db")})
print("\\n" + json.dumps({"code": code, "loaded": roots}))
"""


def _run(*args: str) -> tuple[int, list[str]]:
    """`comms ARGS` in a fresh interpreter: its exit code and the service modules it loaded."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return int(got["code"] or 0), list(got["loaded"])


def test_extract_reads_a_certificate_without_loading_the_service() -> None:
    got = _run("extract", str(SAMPLE), "--json")
    assert got == (0, [])


def test_extract_after_the_root_config_option_is_the_same_path() -> None:
    got = _run("--config", "nowhere.toml", "extract", str(SAMPLE), "--json")
    assert got == (0, [])


def test_other_commands_load_the_whole_app() -> None:
    code, loaded = _run("--help")
    assert code == 0
    assert "sqlalchemy" in loaded


def test_command_of_skips_the_root_options() -> None:
    assert command_of(["extract", "a.pdf"]) == "extract"
    assert command_of(["--config", "x.toml", "extract", "a.pdf"]) == "extract"
    assert command_of(["--config=x.toml", "status"]) == "status"
    assert command_of(["--help"]) is None
    assert command_of([]) is None
