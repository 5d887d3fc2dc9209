"""Roster import benchmark: 100,000 generated rows into SQLite, against a bare baseline.

The baseline, measured in the same run on the same file: the stdlib `csv` reader plus one
`executemany` INSERT of the raw rows into a SQLite table. Target: the real import (header
mapping, validation of every value, phone normalization, vendor/agent/policy matching, bulk
writes) reaches at least 25% of the baseline's rows per second.

Each round measures the baseline before and after the import (the faster counts) and the
import itself, in a fresh process like `comms import`; the figures reported are those of the
median round.

Run: .venv/bin/python bench/roster_import.py [--rows 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlmodel import Session  # noqa: E402

from comms.db import make_engine  # noqa: E402
from comms.migrate import upgrade  # noqa: E402
from comms.profiles import load_profiles  # noqa: E402
from comms.roster import import_roster  # noqa: E402

HEADER = [
    "Vendor Name",
    "Vendor Email",
    "Vendor Phone",
    "Agent Name",
    "Agent Email",
    "Agent Phone",
    "Profile",
    "Coverage",
    "Insurer",
    "NAIC",
    "Policy Number",
    "Effective Date",
    "Expiration Date",
    "Each Occurrence",
    "General Aggregate",
    "Combined Single Limit",
    "EL Each Accident",
    "Additional Insured",
    "Waiver of Subrogation",
]
COVERAGES = ["General Liability", "Auto", "Workers Comp", "Umbrella"]
AREA = ["212", "646", "718", "917", "312", "415", "213", "617", "305", "404"]
# (insurer, NAIC code): a vendor's policies come from a few of a dozen carriers.
CARRIERS = [
    ("Travelers Indemnity", "25658"),
    ("Hartford Fire Insurance", "19682"),
    ("Zurich American", "16535"),
    ("Liberty Mutual Fire", "23035"),
    ("Chubb Indemnity", "12777"),
    ("Nationwide Mutual", "23787"),
    ("Cincinnati Insurance", "10677"),
    ("Erie Insurance Exchange", "26271"),
    ("State Fund", ""),
    ("Berkshire Hathaway Direct", "10200"),
    ("Great American", "16691"),
    ("Carrier Mutual", ""),
]
# Phone numbers as people type them.
PHONE_FORMATS = [
    "({a}) {b}-{c}",
    "{a}-{b}-{c}",
    "{a}.{b}.{c}",
    "+1 {a} {b} {c}",
    "{a}{b}{c}",
    "1-{a}-{b}-{c}",
]


def _phone(area: str, exchange: int, line: int, style: int) -> str:
    fmt = PHONE_FORMATS[style % len(PHONE_FORMATS)]
    return fmt.format(a=area, b=f"{exchange:03d}", c=f"{line:04d}")


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """One row per policy, four policies (GL, auto, WC, umbrella) per vendor; 20 vendors per
    agent; annual policies starting any day of the year; carriers, NAIC codes and phone
    formats varying as in real sheets."""
    rnd = random.Random(seed)
    vendors = rows // 4
    agents = max(1, vendors // 20)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(rows):
            v = i // 4
            a = v % agents
            start = date(2026, 1, 1) + timedelta(days=rnd.randrange(365))
            cov = COVERAGES[i % 4]
            insurer, naic = CARRIERS[(v * 7 + i % 4 * (1 + v % 3)) % len(CARRIERS)]
            w.writerow(
                [
                    f"Vendor {v:06d} LLC",
                    f"ops{v}@vendor{v}.example",
                    _phone(AREA[v % 10], 200 + v % 700, v % 10000, v // 10),
                    f"Agent {a}",
                    f"agent{a}@agency.example",
                    _phone(AREA[a % 10], 300 + a % 600, a % 10000, a),
                    "standard",
                    cov,
                    insurer,
                    naic,
                    f"P-{i:08d}",
                    start.strftime("%m/%d/%Y"),
                    (start + timedelta(days=365)).strftime("%m/%d/%Y"),
                    "$1,000,000" if cov == "General Liability" else "",
                    "$2,000,000" if cov == "General Liability" else "",
                    "1M" if cov == "Auto" else "",
                    "500,000" if cov == "Workers Comp" else "",
                    "yes" if cov == "General Liability" else "",
                    "x" if cov == "Workers Comp" else "",
                ]
            )


def baseline(path: Path, db: Path) -> float:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    cols = ", ".join(f"c{i} TEXT" for i in range(len(HEADER)))
    conn.execute(f"CREATE TABLE roster_rows ({cols})")
    marks = ", ".join("?" for _ in HEADER)
    t0 = time.perf_counter()
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        conn.executemany(f"INSERT INTO roster_rows VALUES ({marks})", reader)
    conn.commit()
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def real_import(path: Path, db: Path) -> tuple[float, int]:
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    with Session(engine) as s:
        load_profiles(s, ROOT / "config" / "requirements")
        s.commit()
    now = datetime(2026, 11, 28, tzinfo=UTC)
    t0 = time.perf_counter()
    with Session(engine) as s:
        result = import_roster(s, path, now=now, region="US")
        s.commit()
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed, result.policies_created


def _in_fresh_process(
    fn: Callable[[Path, Path], tuple[float, int]], *args: Path
) -> tuple[float, int]:
    """Run `fn` in a new interpreter, as `comms import` runs: nothing cached by a previous
    round (parsed phones, emails, dates) carries over."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(fn, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds (the machine is shared: the median counts)"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "roster_import.json"
    )
    args = parser.parse_args()
    rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        csv_path = t / "roster.csv"
        generate(csv_path, args.rows)
        for n in range(args.repeat):
            base_s = baseline(csv_path, t / f"baseline{n}a.db")
            real_s, created = _in_fresh_process(real_import, csv_path, t / f"comms{n}.db")
            base_s = min(base_s, baseline(csv_path, t / f"baseline{n}b.db"))  # before and after
            assert created == args.rows, f"imported {created} policies of {args.rows}"
            ratio = base_s / real_s
            rounds.append({"baseline_seconds": base_s, "import_seconds": real_s, "ratio": ratio})
            print(f"round {n + 1}: baseline {base_s:.2f} s, import {real_s:.2f} s, {ratio:.1%}")
    median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    base_s, real_s, ratio = median["baseline_seconds"], median["import_seconds"], median["ratio"]
    base_rate = args.rows / base_s
    real_rate = args.rows / real_s
    figures = {
        "rows": args.rows,
        "rounds": [{k: round(v, 3) for k, v in r.items()} for r in rounds],
        "baseline_rows_per_s": round(base_rate),
        "import_rows_per_s": round(real_rate),
        "baseline_seconds": round(base_s, 3),
        "import_seconds": round(real_s, 3),
        "ratio": round(ratio, 3),
        "target_ratio": 0.25,
        "meets_target": ratio >= 0.25,
    }
    print(f"median of {len(rounds)} round(s):")
    print(f"baseline (csv + executemany): {base_rate:,.0f} rows/s ({base_s:.2f} s)")
    print(f"comms import:                 {real_rate:,.0f} rows/s ({real_s:.2f} s)")
    print(f"ratio: {ratio:.1%} of baseline (target >= 25%)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
