"""Benchmark: the memory a large message's attachments take while it is parsed and stored.

    .venv/bin/python bench/large_message.py                  # a 28 MB message, one 20 MB PDF
    .venv/bin/python bench/large_message.py --attachment-mb 40 --parts 2

A message with `--parts` attachments of `--attachment-mb` MB each (random bytes after a PDF
header, base64 as mail carries them) is parsed and its documents stored under a temporary
folder, two ways, side by side in this process:

- baseline: the whole message parsed by the standard library (`email.message_from_bytes`),
  each document decoded in memory (`document_parts`) and written (`store`): what the pipeline
  did before attachments were streamed;
- spooled: the pipeline's way now, `parse_mail(raw, spool=...)`, each base64 document decoded
  to a file while it is parsed, stored by a rename (`store_part`).

Peak Python memory (tracemalloc) beyond the raw message, which both hold; the ratio is
spooled over baseline. Figures to bench/results/large_message.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import compat32
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024


def message(attachment_mb: float, parts: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Agent <agent@broker.test>"
    msg["To"] = "coi@example.test"
    msg["Subject"] = "RE: certificate"
    msg["Message-ID"] = "<large@broker.test>"
    msg.set_content("Certificates attached.")
    rng = random.Random(20)
    for i in range(parts):
        data = b"%PDF-1.4\n" + rng.randbytes(int(attachment_mb * MB))
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=f"coi{i}.pdf")
    return msg.as_bytes()


def baseline(raw: bytes, root: Path) -> int:
    from inbound.attachments import document_parts, store

    msg = message_from_bytes(raw, policy=compat32)
    found, _ = document_parts(msg, max_part=100 * MB, max_total=200 * MB)
    for part in found:
        store(part.data or b"", part.content_type, root)
    return len(found)


def spooled(raw: bytes, root: Path) -> int:
    from inbound.attachments import document_parts, spool_in, store_part
    from inbound.parse import parse_mail

    with spool_in(root, max_part=100 * MB) as spool:
        msg = parse_mail(raw, spool=spool).msg
        found, _ = document_parts(msg, max_part=100 * MB, max_total=200 * MB)
        for part in found:
            store_part(part, root)
    return len(found)


def measure(fn: Callable[[bytes, Path], int], raw: bytes) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="large-message-") as tmp:
        tracemalloc.start()
        started = time.perf_counter()
        stored = fn(raw, Path(tmp))
        took = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {"peak_mb": round(peak / MB, 1), "seconds": round(took, 2), "stored": stored}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attachment-mb", type=float, default=20.0)
    parser.add_argument("--parts", type=int, default=1)
    args = parser.parse_args()
    raw = message(args.attachment_mb, args.parts)
    spooled(message(0.1, 1), Path(tempfile.gettempdir()))  # imports, outside the figures
    base = measure(baseline, raw)
    new = measure(spooled, raw)
    ratio = round(new["peak_mb"] / base["peak_mb"], 3) if base["peak_mb"] else None
    print(f"message {len(raw) / MB:.1f} MB, {args.parts} x {args.attachment_mb} MB attachment")
    print(f"{'way':<10} {'peak MB':>8} {'seconds':>8}")
    for name, row in (("baseline", base), ("spooled", new)):
        print(f"{name:<10} {row['peak_mb']:>8} {row['seconds']:>8}")
    print(f"peak memory, spooled / baseline: {ratio}")
    out = ROOT / "bench" / "results" / "large_message.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = {
        "message_mb": round(len(raw) / MB, 1),
        "attachment_mb": args.attachment_mb,
        "parts": args.parts,
        "baseline": base,
        "spooled": new,
        "ratio_peak": ratio,
    }
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    return 0 if base["stored"] == new["stored"] == args.parts else 1


if __name__ == "__main__":
    sys.exit(main())
