"""Run the extraction in a child process with CPU, wall-clock and address-space limits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

from .errors import ExtractionError
from .schema import Extraction


def run_sandboxed(
    data: bytes, filename: str | None, timeout_s: float, memory_mb: int
) -> Extraction:
    # the file name stays out of argv (process listings); the child does not need it
    cmd = [
        sys.executable,
        "-m",
        "inbound.acord25.child",
        str(max(1, int(timeout_s))),
        str(memory_mb),
    ]
    env = dict(os.environ, OMP_THREAD_LIMIT="1", PYTHONDONTWRITEBYTECODE="1")
    try:
        proc = subprocess.run(
            cmd, input=data, capture_output=True, timeout=timeout_s + 1, env=env, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ExtractionError(f"extraction exceeded {timeout_s:.0f} s", "timeout") from exc
    reply: dict[str, Any] | None = None
    try:
        reply = json.loads(proc.stdout.decode("utf-8")) if proc.stdout else None
    except ValueError:
        reply = None
    if reply and reply.get("ok"):
        return Extraction.from_json(reply["extraction"])
    if reply and not reply.get("ok"):
        raise ExtractionError(str(reply.get("reason")), str(reply.get("code")))
    if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise ExtractionError(f"extraction exceeded {timeout_s:.0f} s of CPU", "timeout")
    err = proc.stderr.decode("utf-8", "replace")[-400:]
    if "MemoryError" in err or "alloc" in err.lower() or proc.returncode == -signal.SIGSEGV:
        raise ExtractionError(f"extraction exceeded {memory_mb} MB of memory", "memory")
    raise ExtractionError(f"extraction process failed (exit {proc.returncode})", "corrupt")
