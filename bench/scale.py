"""Verdicts at scale: a generated roster of N vendors (four policies each) through the real
`comms` commands, each in its own process, with its wall time and peak memory (the child's
`ru_maxrss`, read with `os.wait4`).

Measured in one run, on SQLite (the embedded default) or PostgreSQL (`--db postgres`):
- `comms import` of the roster; and of the same roster with a bad value near its end (it
  must exit 2 and write nothing);
- `comms status --json` (streamed to /dev/null), against a baseline run the same way: a bare
  `SELECT` of the stored verdict rows (and vendor names) dumped with `json.dumps`, in a
  process of its own; the ratio is baseline time / status time (target >= 0.30);
- `comms status` (the counts and the 50 worst);
- the counts alone and a vendor search (by name prefix, email, phone, vendor ID), in process,
  the median of 20 runs each;
- the daily roll (`comms verdicts roll`) on the day after the import, when 1% of the
  verdicts change (the generator puts 1% of vendors' policies 31 days from expiring);
- `comms tick` that day: it opens the cases (about 6% of vendors: 1% missing, 2% expired,
  2% below a limit, 1% newly expiring) and renders their emails to the outbox;
- `comms verdicts check` after all of it (no drift expected).

Figures go to bench/results/scale.json under the database and size (earlier runs of other
sizes are kept), and are printed beside the issue's "today" figures (SQLite, 100,000). With
both PostgreSQL sizes in the file, it also holds the growth from 100,000 to 1,000,000 vendors
(time of import, status --json, roll and tick: target <= 11x; every command's peak memory:
target <= 1.2x), and `targets`: each of the issue's targets with the figure measured and
whether it is met.

Run: .venv/bin/python bench/scale.py [--runs sqlite:100000 postgres:100000 postgres:1000000]
(or the older --vendors N --db sqlite|postgres for one run).

`--only tick [--repeat N]` measures `comms tick` alone: the roster is imported and rolled
once (not measured), then tick runs N times, each on a fresh copy of that database and data
folder (SQLite only), and its figures go to bench/results/scale_tick.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from comms.db import make_engine  # noqa: E402
from comms.stored_verdicts import counts  # noqa: E402
from comms.vendor_search import search_vendors  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scale.json"
TICK_RESULTS = ROOT / "bench" / "results" / "scale_tick.json"
COMMS = str(Path(sys.executable).with_name("comms"))
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
T0 = date(2026, 12, 3)
NOW = "2026-12-03T15:00:00-05:00"  # a Thursday, in business hours
NEXT = "2026-12-04T15:00:00-05:00"
TODAY_FIGURES = {  # the table: main before stored verdicts, SQLite, 100,000 vendors
    "import": {"seconds": 14.0, "peak_mb": 731},
    "status_json": {"seconds": 23.7, "peak_mb": 1430},
    "status": {"seconds": 97.0, "peak_mb": 1430},
    "tick": {"seconds": 206.0, "peak_mb": 1430, "cases_per_second": 110},
}
HEADER = [
    "Vendor Name",
    "Vendor Email",
    "Vendor Phone",
    "Agent Name",
    "Agent Email",
    "Profile",
    "Coverage",
    "Insurer",
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
COVERAGES = ("General Liability", "Auto", "Workers Comp", "Umbrella")


def vendor_end(v: int) -> date | None:
    """Where vendor `v`'s policies end (None: no certificate), by `v % 100`."""
    kind = v % 100
    if kind == 0:
        return None  # missing
    if kind in (1, 2):
        return T0 - timedelta(days=10)  # expired
    if kind == 5:
        return T0 + timedelta(days=31)  # enters the 30-day window tomorrow
    return T0 + timedelta(days=80 + (v * 7919) % 280)  # well ahead


def generate(path: Path, vendors: int) -> int:
    """The roster: one row per policy; returns the number of rows."""
    rows = 0
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for v in range(vendors):
            a = v // 20
            who = [
                f"Vendor {v:07d} LLC",
                f"ops{v}@vendor{v}.example",
                f"+1{212 + v % 7}{200 + v % 700:03d}{v % 10000:04d}",
                f"Agent {a}",
                f"agent{a}@agency.example",
                "standard",
            ]
            end = vendor_end(v)
            if end is None:
                w.writerow(who + [""] * (len(HEADER) - len(who)))
                rows += 1
                continue
            low = v % 100 in (3, 4)  # below the each-occurrence minimum
            start = end - timedelta(days=365)
            for c, cov in enumerate(COVERAGES):
                gl = cov == "General Liability"
                w.writerow(
                    [
                        *who,
                        cov,
                        "Travelers Indemnity",
                        f"P-{v:07d}-{c}",
                        start.isoformat(),
                        end.isoformat(),
                        ("500000" if low else "1000000") if gl else "",
                        "2000000" if gl else "",
                        "1000000" if cov == "Auto" else "",
                        "500000" if cov == "Workers Comp" else "",
                        "yes" if gl else "",
                        "yes" if cov == "Workers Comp" else "",
                    ]
                )
                rows += 1
    return rows


def spoil(src: Path, dst: Path, at_fraction: float = 0.9) -> int:
    """A copy of `src` with a bad expiration date on the row at `at_fraction`; its line."""
    with src.open() as fh:
        total = sum(1 for _ in fh) - 1
    bad = max(1, int(total * at_fraction))
    with src.open(newline="") as fin, dst.open("w", newline="") as fout:
        r, w = csv.reader(fin), csv.writer(fout)
        w.writerow(next(r))
        for i, row in enumerate(r, start=1):
            if i == bad:
                row[HEADER.index("Expiration Date")] = "31/31/2027"
            w.writerow(row)
    return bad + 1


def measured(args: list[str], env: dict[str, str], *, to_null: bool = False) -> dict[str, Any]:
    """ARGS in a child process: seconds, its own peak memory (reaped with `os.wait4`), exit
    code and its last line of output."""
    t0 = time.perf_counter()
    sink = open(os.devnull, "wb") if to_null else subprocess.PIPE  # noqa: SIM115
    proc = subprocess.Popen([*args], env=env, stdout=sink, stderr=subprocess.PIPE, cwd=ROOT)
    captured = b""
    if not to_null:
        assert proc.stdout is not None
        captured = proc.stdout.read()
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if to_null:
        sink.close()  # type: ignore[union-attr]
    lines = (captured or err).decode(errors="replace").strip().splitlines()
    return {
        "seconds": round(seconds, 3),
        "peak_mb": round(usage.ru_maxrss / 1024, 1),
        "exit": os.waitstatus_to_exitcode(status),
        "said": (lines or [""])[-1][:200],
    }


BASELINE = """
import json, sys
from sqlalchemy import create_engine, text
engine = create_engine(sys.argv[1])
out = open("/dev/null", "w")
with engine.connect() as conn:
    rows = conn.execution_options(yield_per=1000, stream_results=True).execute(text(
        "SELECT v.name, v.vendor_code, vv.vendor_id, vv.status, vv.flags, vv.next_expiration,"
        " vv.deficiencies FROM vendor_verdict vv JOIN vendor v ON v.id = vv.vendor_id"))
    for row in rows:
        out.write(json.dumps([str(x) if x is not None else None for x in row]))
"""


def median_ms(fn: Callable[[], Any], n: int = 20) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2)


def in_process(url: str, vendors: int) -> dict[str, Any]:
    engine = make_engine(url)
    probe = vendors // 2
    phone = f"+1{212 + probe % 7}{200 + probe % 700:03d}{probe % 10000:04d}"
    try:
        with Session(engine) as s:
            out = {
                "counts_ms": median_ms(lambda: counts(s)),
                "counts": counts(s),
                "search_ms": {
                    "name prefix": median_ms(lambda: search_vendors(s, f"vendor {probe:07d}")),
                    "email": median_ms(
                        lambda: search_vendors(s, f"ops{probe}@vendor{probe}.example")
                    ),
                    "phone": median_ms(lambda: search_vendors(s, phone)),
                    "vendor ID": median_ms(lambda: search_vendors(s, str(100001 + probe))),
                },
                "search_found": len(search_vendors(s, f"vendor {probe:07d}")),
            }
        return out
    finally:
        engine.dispose()


def scalar(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def say(*parts: Any) -> None:
    print(*parts, flush=True)


def environment(url: str, work: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("COMMS_")},
        "COMMS_DATABASE_URL": url,
        "COMMS_DATA_DIR": str(work / "var"),
        "COMMS_LOG_LEVEL": "WARNING",
    }


def bench(url: str, vendors: int, work: Path) -> dict[str, Any]:
    env = environment(url, work)
    roster = work / "roster.csv"
    t0 = time.perf_counter()
    rows = generate(roster, vendors)
    say(f"generated {vendors:,} vendors, {rows:,} rows in {time.perf_counter() - t0:.1f} s")
    bad = work / "bad.csv"
    bad_line = spoil(roster, bad)
    comms = [COMMS]
    out: dict[str, Any] = {"vendors": vendors, "rows": rows}
    out["init"] = measured([*comms, "init"], env)
    out["import_invalid"] = measured([*comms, "import", str(bad), "--now", NOW], env)
    out["import_invalid"]["bad_line"] = bad_line
    out["import_invalid"]["vendors_after"] = scalar(url, "SELECT count(*) FROM vendor")
    say("invalid import:", out["import_invalid"])
    out["import"] = measured([*comms, "import", str(roster), "--now", NOW], env)
    say("import:", out["import"])
    out["status_json"] = measured([*comms, "status", "--json", "--now", NOW], env, to_null=True)
    out["baseline_select_json"] = measured([sys.executable, "-c", BASELINE, url], env)
    out["status_json_ratio"] = round(
        out["baseline_select_json"]["seconds"] / out["status_json"]["seconds"], 3
    )
    say("status --json:", out["status_json"], "ratio", out["status_json_ratio"])
    out["status"] = measured([*comms, "status", "--now", NOW], env, to_null=True)
    out.update(in_process(url, vendors))
    say("counts:", out["counts_ms"], "ms; search:", out["search_ms"])
    before = scalar(url, "SELECT count(*) FROM verdict_change")
    out["roll"] = measured([*comms, "verdicts", "roll", "--now", NEXT], env)
    changed = scalar(url, "SELECT count(*) FROM verdict_change") - before
    out["roll"]["status_changes"] = changed
    out["roll"]["changed_share"] = round(changed / vendors, 4)
    say("roll:", out["roll"])
    out["tick"] = tick_figures(url, work, env)
    say("tick:", out["tick"])
    out["check"] = measured([*comms, "verdicts", "check", "--now", NEXT], env)
    out["check"]["drift"] = out["check"]["exit"] != 0  # it exits 1 on drift
    say("check:", out["check"])
    commands = ("import", "import_invalid", "status_json", "status", "roll", "tick", "check")
    out["peak_mb_max"] = max(out[c]["peak_mb"] for c in commands)
    return out


def tick_figures(url: str, work: Path, env: dict[str, str]) -> dict[str, Any]:
    """`comms tick` the day after the import, with the cases it opened and the emails it
    wrote to the outbox."""
    out = measured([COMMS, "tick", "--now", NEXT], env)
    opened = scalar(url, 'SELECT count(*) FROM "case"')
    outbox = len(list((work / "var" / "outbox").glob("*.eml")))
    out.update(
        cases_opened=opened,
        emails_in_outbox=outbox,
        cases_per_second=round(opened / out["seconds"], 1),
    )
    return out


def only_tick(vendors: int, repeat: int) -> dict[str, Any]:
    """The roster imported and rolled once; `comms tick` on `repeat` fresh copies of it."""
    with tempfile.TemporaryDirectory(prefix="scale-tick-") as tmp:
        base, work = Path(tmp) / "base", Path(tmp) / "run"
        base.mkdir()
        env = environment(f"sqlite:///{base / 'scale.db'}", base)
        generate(base / "roster.csv", vendors)
        for args in (
            ["init"],
            ["import", str(base / "roster.csv"), "--now", NOW],
            ["verdicts", "roll", "--now", NEXT],
        ):
            done = measured([COMMS, *args], env)
            say(args[0], done)
            if done["exit"] != 0:
                raise SystemExit(f"{args[0]} failed: {done['said']}")
        (base / "roster.csv").unlink()
        runs = []
        for _ in range(repeat):
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(base, work)
            url = f"sqlite:///{work / 'scale.db'}"
            runs.append(tick_figures(url, work, environment(url, work)))
            say("tick:", runs[-1])
    return {"vendors": vendors, "tick_runs": runs}


COMMANDS = ("import", "import_invalid", "status_json", "status", "roll", "tick", "check")
TIMED = ("import", "status_json", "roll", "tick")


def growth(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    """Time and peak memory of each command at the large size over the small."""
    return {
        "from": small["vendors"],
        "to": large["vendors"],
        "time": {
            c: round(large[c]["seconds"] / small[c]["seconds"], 2)
            for c in COMMANDS
            if c in small and c in large
        },
        "peak_memory": {
            c: round(large[c]["peak_mb"] / small[c]["peak_mb"], 3)
            for c in COMMANDS
            if c in small and c in large
        },
    }


def targets(kept: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, each with what was measured and whether it is met."""
    out: dict[str, Any] = {}
    for key in ("sqlite_100000", "postgres_100000", "postgres_1000000"):
        if key in kept:
            peak = kept[key]["peak_mb_max"]
            out[f"peak memory, {key}"] = {"target": "<= 400 MB", "got": peak, "met": peak <= 400}
    for key in ("sqlite_100000", "postgres_100000"):
        if key in kept:
            ratio = kept[key]["status_json_ratio"]
            out[f"status --json ratio, {key}"] = {
                "target": ">= 0.30",
                "got": ratio,
                "met": ratio >= 0.30,
            }
    if "sqlite_100000" in kept:
        rate = kept["sqlite_100000"]["tick"]["cases_per_second"]
        out["tick, sqlite_100000"] = {"target": ">= 1000 cases/s", "got": rate, "met": rate >= 1000}
    if "postgres_1000000" in kept:
        large = kept["postgres_1000000"]
        out["counts, postgres_1000000"] = {
            "target": "<= 50 ms",
            "got": large["counts_ms"],
            "met": large["counts_ms"] <= 50,
        }
        worst = max(large["search_ms"].values())
        out["search (slowest kind), postgres_1000000"] = {
            "target": "<= 50 ms",
            "got": worst,
            "met": worst <= 50,
        }
    grown = kept.get("growth_postgres_100000_1000000")
    if grown:
        worst_time = max(grown["time"][c] for c in TIMED if c in grown["time"])
        worst_memory = max(grown["peak_memory"].values())
        out["time growth 100k -> 1M (import, status --json, roll, tick)"] = {
            "target": "<= 11x",
            "got": worst_time,
            "met": worst_time <= 11,
        }
        out["peak memory growth 100k -> 1M (every command)"] = {
            "target": "<= 1.2x",
            "got": worst_memory,
            "met": worst_memory <= 1.2,
        }
    return out


def run(db: str, vendors: int) -> dict[str, Any]:
    """One run in a temporary folder (and, on PostgreSQL, a database of its own)."""
    say(f"--- {db}, {vendors:,} vendors ---")
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        work = Path(tmp)
        if db == "sqlite":
            return bench(f"sqlite:///{work / 'scale.db'}", vendors, work)
        name = f"scale_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            return bench(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", vendors, work)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def save(key: str, result: dict[str, Any]) -> dict[str, Any]:
    result["measured_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
    result["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    kept.setdefault("today_sqlite_100000", TODAY_FIGURES)
    kept[key] = result
    if "postgres_100000" in kept and "postgres_1000000" in kept:
        kept["growth_postgres_100000_1000000"] = growth(
            kept["postgres_100000"], kept["postgres_1000000"]
        )
    kept["targets"] = targets(kept)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(kept, indent=2, default=str) + "\n")
    say(f"wrote {RESULTS} ({key})")
    return kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", nargs="+", metavar="DB:VENDORS", help="e.g. postgres:1000000")
    ap.add_argument("--vendors", type=int, default=100_000)
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--only", choices=("tick",), help="measure only this command (SQLite)")
    ap.add_argument("--repeat", type=int, default=2, help="with --only: runs of the command")
    args = ap.parse_args()
    if args.only:
        result = only_tick(args.vendors, args.repeat)
        result["measured_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
        result["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout
        TICK_RESULTS.parent.mkdir(parents=True, exist_ok=True)
        TICK_RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        rates = [r["cases_per_second"] for r in result["tick_runs"]]
        say(f"tick, sqlite {args.vendors:,}: {rates} cases/s (target >= 1000); {TICK_RESULTS}")
        return
    runs = [(r.split(":")[0], int(r.split(":")[1])) for r in args.runs or []]
    if any(db not in ("sqlite", "postgres") for db, _ in runs):
        ap.error("--runs: DB is sqlite or postgres")
    kept: dict[str, Any] = {}
    for db, vendors in runs or [(args.db, args.vendors)]:
        kept = save(f"{db}_{vendors}", run(db, vendors))
    for name, figure in kept.get("targets", {}).items():
        say(f"{'met ' if figure['met'] else 'MISS'}  {name}: {figure['got']} ({figure['target']})")


if __name__ == "__main__":
    main()
