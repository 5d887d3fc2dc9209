"""ACORD 25 extraction accuracy and speed, per path, on a generated corpus + the real samples.

Usage: .venv/bin/python bench/acord25_accuracy.py [--n 34] [--seed 25] [--variants 6]
       [--extra DIR ...] [--skip-generated]
  e.g. --skip-generated --extra ~/acord_local   grades a local real-world set given by its path
  (DIR/positives, DIR/negatives, DIR/blank, each document beside NAME.expected.json; rebuild
  the project's one from bench/wild_sources.md and bench/wild_expected/)
Text PDFs (the real-world text positives and the generated flat and fillable ones) are timed
again apart: p50 in-process by the path taken, against the bare pdfplumber baseline, and a text
page as a whole `comms extract` command, whose start-up (the command minus the in-process read)
is reported separately, with the sandbox child's own start-up.
Writes bench/results/acord25_accuracy.json. The real-world part (bench/acord25_wild.py) grades
the committed samples (tests/samples/acord25) and any local set given with --extra (real
certificates fetched from public repositories are not committed: keep them outside the repo), per input kind, with image variants derived at run time, the calibration
of the confidences, crashes and non-ACORD-25 documents accepted. Baselines are run side by side in the same
process: a bare pdfplumber open + extract_words (text), pypdf get_fields (fillable) and a bare
`tesseract` TSV run on the same image (scans).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from acord25_wild import Tally, evaluate, input_kind, load_set, print_summary  # noqa: E402
from acord25_wild import summarize as summarize_wild  # noqa: E402

from inbound.acord25 import extract_in_process  # noqa: E402
from inbound.acord25.grading import grade  # noqa: E402
from tests.support.acord25_corpus import generate  # noqa: E402

SAMPLES = ROOT / "tests" / "samples" / "acord25"
REAL = (
    "acord_25_2016_03_sample.pdf",
    "acord_25_2010_05_2014_01_sample.pdf",
    "acord_25_2016_03_screenshot.png",
)
OUT = Path(__file__).resolve().parent / "results" / "acord25_accuracy.json"


def baseline(kind: str, data: bytes) -> float:
    t = time.perf_counter()
    if kind == "fillable":
        from pypdf import PdfReader

        PdfReader(io.BytesIO(data)).get_fields()
    elif data.startswith(b"%PDF") and kind != "scan":
        import pdfplumber

        with pdfplumber.open(io.BytesIO(data)) as pdf:
            pdf.pages[0].extract_words()
    else:
        from PIL import Image

        if data.startswith(b"%PDF"):
            import pypdfium2 as pdfium

            img = pdfium.PdfDocument(data)[0].render(scale=300 / 72).to_pil()
        else:
            img = Image.open(io.BytesIO(data))
        with tempfile.NamedTemporaryFile(suffix=".png") as f:
            img.save(f.name)
            t = time.perf_counter()
            subprocess.run(
                ["tesseract", f.name, "stdout", "--psm", "11", "tsv"],
                capture_output=True,
                check=False,
                env=dict(os.environ, OMP_THREAD_LIMIT="1"),
            )
    return time.perf_counter() - t


def run_one(
    kind: str,
    name: str,
    data: bytes,
    expected: dict[str, Any],
    base_every: int,
    i: int,
    base_kind: str | None = None,
) -> dict[str, Any]:
    t = time.perf_counter()
    r = extract_in_process(data, name)
    dt = time.perf_counter() - t
    right, total, wrong = grade(expected, r.data)
    row: dict[str, Any] = {
        "kind": kind,
        "name": name,
        "right": right,
        "total": total,
        "wrong": wrong,
        "seconds": round(dt, 4),
    }
    if i % base_every == 0:
        row["baseline_seconds"] = round(baseline(base_kind or kind, data), 4)
    return row


def command_startup(path: Path, runs: int = 3) -> dict[str, float] | None:
    """`comms extract FILE --json` as a whole command against the same read in-process: the
    difference is the command's start-up (interpreter, CLI, sandbox child)."""
    exe = Path(sys.executable).with_name("comms")
    if not exe.exists():
        return None
    data = path.read_bytes()
    whole, inproc = [], []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([str(exe), "extract", str(path), "--json"], capture_output=True, check=False)
        whole.append(time.perf_counter() - t)
        t = time.perf_counter()
        extract_in_process(data, path.name)
        inproc.append(time.perf_counter() - t)
    child = []
    for _ in range(runs):  # the sandbox child alone: a Python process importing the extractor
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "import inbound.acord25.child"],
            capture_output=True,
            check=False,
            cwd=ROOT,
        )
        child.append(time.perf_counter() - t)
    w, i = statistics.median(whole), statistics.median(inproc)
    return {
        "command_p50": round(w, 3),
        "in_process_p50": round(i, 3),
        "startup": round(w - i, 3),
        "child_startup": round(statistics.median(child), 3),
    }


def text_speed(docs: list[tuple[str, bytes]], runs: int = 3) -> dict[str, Any]:
    """Read time of each text PDF in-process (median of `runs`) and, side by side in the same
    loop, the baseline: a bare pdfplumber open + extract_words of the page read. Grouped by the
    path the extractor took (text, acroform; a text PDF whose certificate page is an image goes
    to OCR and is listed apart)."""
    import pdfplumber

    rows: list[dict[str, Any]] = []
    for name, data in docs:
        ours, base = [], []
        path, page = "error", 0
        for _ in range(runs):
            t = time.perf_counter()
            try:
                r = extract_in_process(data, name)
                taken = set(r.sources.values())
                path = sorted(taken - {"text"} or taken or {"not read"})[0]
                page = r.page or 0
            except Exception as exc:  # a refused file is timed too
                path = f"error {type(exc).__name__}"
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            try:
                with pdfplumber.open(io.BytesIO(data)) as pdf:
                    pdf.pages[min(page, len(pdf.pages) - 1)].extract_words()
            except Exception:
                pass
            base.append(time.perf_counter() - t)
        rows.append(
            {
                "name": name,
                "path": path,
                "seconds": round(statistics.median(ours), 4),
                "baseline_seconds": round(statistics.median(base), 4),
            }
        )
    out: dict[str, Any] = {"rows": rows, "paths": {}}
    for path in dict.fromkeys(r["path"] for r in rows):
        rs = [r for r in rows if r["path"] == path]
        p50 = statistics.median(r["seconds"] for r in rs)
        b50 = statistics.median(r["baseline_seconds"] for r in rs)
        out["paths"][path] = {
            "n": len(rs),
            "p50_seconds": round(p50, 4),
            "baseline_p50_seconds": round(b50, 4),
            "ratio_vs_baseline": round(p50 / b50, 2) if b50 else None,
        }
    return out


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    right = sum(r["right"] for r in rows)
    total = sum(r["total"] for r in rows)
    p50 = statistics.median(r["seconds"] for r in rows)
    bases = [r["baseline_seconds"] for r in rows if "baseline_seconds" in r]
    b50 = statistics.median(bases) if bases else None
    return {
        "n": len(rows),
        "fields_right": right,
        "fields_graded": total,
        "accuracy": round(right / total, 4) if total else None,
        "p50_seconds": round(p50, 4),
        "baseline_p50_seconds": round(b50, 4) if b50 else None,
        "ratio_vs_baseline": round(p50 / b50, 2) if b50 else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=34, help="certificates per kind (3 kinds)")
    ap.add_argument("--seed", type=int, default=25)
    ap.add_argument("--variants", type=int, default=6, help="positives per set given variants")
    ap.add_argument("--extra", type=Path, action="append", default=[], help="a local set dir")
    ap.add_argument("--skip-generated", action="store_true")
    args = ap.parse_args(argv)
    wild: dict[str, Any] = {}
    text_positives: list[Any] = []
    for name, docs in [("committed", load_set(SAMPLES))] + [
        (f"local:{d.name}", load_set(d)) for d in args.extra
    ]:
        text_positives += [
            d for d in docs if d.role == "positive" and input_kind(d.path.read_bytes()) == "text"
        ]
        tally = Tally()
        evaluate(name, docs, args.variants, tally)
        wild[name] = {"summary": summarize_wild(tally.rows), "rows": tally.rows}
        print_summary(f"real-world set {name}", wild[name]["summary"])
    every = [r for w in wild.values() for r in w["rows"]]
    text_rows = [r for r in every if r["role"] == "positive" and r["kind"] == "text"]
    text_summary = summarize_wild(text_rows) if text_rows else None
    if text_summary:  # the text PDFs of every real-world set together
        print_summary("real-world text PDFs, all sets", text_summary)
    rows: list[dict[str, Any]] = []
    generated = generate(0 if args.skip_generated else args.n, seed=args.seed)
    for i, s in enumerate(generated):
        rows.append(
            run_one(s.kind, s.name, s.data, s.expected, 1 if s.kind != "scan" else 3, i // 3)
        )
    for fname in REAL:
        data = (SAMPLES / fname).read_bytes()
        expected = json.loads((SAMPLES / (fname.rsplit(".", 1)[0] + ".expected.json")).read_text())
        kind = "scan" if "2014_01" in fname or fname.endswith(".png") else "flat"
        rows.append(run_one("real:" + fname, fname, data, expected, 1, 0, kind))
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r["kind"], []).append(r)
    summary = {k: summarize(v) for k, v in groups.items()}
    print(f"{'path':48} {'n':>4} {'accuracy':>9} {'p50 s':>8} {'base p50':>9} {'ratio':>6}")
    for k, v in summary.items():
        acc = f"{100 * v['accuracy']:.2f}%" if v["accuracy"] is not None else "-"
        base = f"{v['baseline_p50_seconds']:.3f}" if v["baseline_p50_seconds"] else "-"
        ratio = f"{v['ratio_vs_baseline']:.1f}x" if v["ratio_vs_baseline"] else "-"
        print(f"{k:48} {v['n']:>4} {acc:>9} {v['p50_seconds']:>8.3f} {base:>9} {ratio:>6}")
    for r in rows:
        if r["kind"].startswith("real:"):
            print(f"{r['name']}: {r['right']}/{r['total']} right; mismatched: {r['wrong']}")
    text_docs = [(d.name, d.path.read_bytes()) for d in text_positives]
    text_docs += [(s.name, s.data) for s in generated if s.kind in ("flat", "fillable")]
    speed = text_speed(text_docs)
    print("\ntext PDFs, read in-process (real-world text positives + generated flat/fillable):")
    print(f"{'path taken':16} {'n':>4} {'p50 s':>8} {'base p50':>9} {'ratio':>6}")
    for path, v in speed["paths"].items():
        ratio = f"{v['ratio_vs_baseline']:.2f}x" if v["ratio_vs_baseline"] else "-"
        print(
            f"{path:16} {v['n']:>4} {v['p50_seconds']:>8.3f} "
            f"{v['baseline_p50_seconds']:>9.3f} {ratio:>6}"
        )
    startup = command_startup(SAMPLES / REAL[0])
    if startup:
        print(
            f"text page as a whole command: {startup['command_p50']:.2f} s, in-process "
            f"{startup['in_process_p50']:.2f} s: command start-up {startup['startup']:.2f} s "
            f"(of which the sandbox child's start-up {startup['child_startup']:.2f} s)"
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "n_per_kind": args.n,
                "command_startup": startup,
                "text_speed": speed,
                "real_world_text": text_summary,
                "seed": args.seed,
                "summary": summary,
                "real_world": wild,
                "real_samples": [r for r in rows if r["kind"].startswith("real:")],
                "generated_failures": [
                    {k: r[k] for k in ("name", "wrong")}
                    for r in rows
                    if r["wrong"] and not r["kind"].startswith("real:")
                ],
            },
            indent=1,
        )
    )
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
