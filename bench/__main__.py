"""Run the benchmarks one after another: `python -m bench [NAME ...]` (`make bench`).

Each benchmark prints its ratio against a baseline run side by side and writes its figures to
bench/results/NAME.json. With no names, every one runs at its default size (the scheduler's
1,000,000-case run needs PostgreSQL and takes a while); `--list` names them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = (
    "roster_import",
    "email_send",
    "workflow_scheduler",
    "acord25_accuracy",
    "inbound_pipeline",
    "ivr_webhook",
    "workspace",
    "faults",
    "large_message",
    "call_desk",
    "scale",
)


def main(argv: list[str]) -> int:
    if argv == ["--list"]:
        print("\n".join(BENCHMARKS))
        return 0
    unknown = [name for name in argv if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; --list names them", file=sys.stderr)
        return 2
    failed = []
    for name in argv or BENCHMARKS:
        print(f"=== {name}", flush=True)
        if subprocess.run([sys.executable, str(HERE / f"{name}.py")], check=False).returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
