"""The sandbox child: `python -m inbound.acord25.child CPU_S MEMORY_MB` reads a document on stdin,
extracts it under CPU and address-space limits and writes one JSON reply on stdout."""

from __future__ import annotations

import json
import resource
import sys
from typing import Any

from .errors import ExtractionError
from .extract import extract_in_process


def _apply_limits(cpu_s: int, memory_mb: int) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 2))
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _child(argv: list[str]) -> int:
    cpu_s, memory_mb = int(argv[0]), int(argv[1])
    filename = argv[2] if len(argv) > 2 and argv[2] else None
    _apply_limits(cpu_s, memory_mb)
    data = sys.stdin.buffer.read()
    out: dict[str, Any]
    try:
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
