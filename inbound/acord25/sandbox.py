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


def _apply_limits(cpu_s: int, memory_mb: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 2))
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_sandboxed(
    data: bytes, filename: str | None, timeout_s: float, memory_mb: int
) -> Extraction:
    # the file name stays out of argv (process listings); the child does not need it
    cmd = [
        sys.executable,
        "-m",
        "inbound.acord25.sandbox",
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


def _child(argv: list[str]) -> int:
    cpu_s, memory_mb = int(argv[0]), int(argv[1])
    filename = argv[2] if len(argv) > 2 and argv[2] else None
    _apply_limits(cpu_s, memory_mb)
    data = sys.stdin.buffer.read()
    out: dict[str, Any]
    try:
        from .extract import extract_in_process

        result = extract_in_process(data, filename)
        out = {"ok": True, "extraction": result.to_json()}
    except ExtractionError as exc:
        out = {"ok": False, "code": exc.code, "reason": exc.reason}
    except MemoryError:
        out = {"ok": False, "code": "memory", "reason": f"exceeded {memory_mb} MB of memory"}
    except Exception as exc:  # any parser crash on hostile input is a corrupt file
        out = {"ok": False, "code": "corrupt", "reason": f"unreadable input: {type(exc).__name__}"}
    sys.stdout.write(json.dumps(out))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1:]))
