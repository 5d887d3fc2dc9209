"""Scheduler benchmark on PostgreSQL: claim and plan the due cases in a table of 100,000 and
then 1,000,000 cases (the same number due each time, so the growth shows what the table size
costs), and steps planned per second against a raw SQL `UPDATE … RETURNING` over the same rows.

    .venv/bin/python bench/workflow_scheduler.py [--due 1000] [--sizes 100000,1000000]

Writes bench/results/workflow_scheduler.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from comms.db import create_all, make_engine  # noqa: E402
from comms.settings import load_settings  # noqa: E402
from workflows.scheduler import TickResult, advance_due  # noqa: E402

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 New York


def load(engine, total: int, due: int) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as c:
        c.execute(
            text('TRUNCATE delivery, case_event, "case", vendor, agent RESTART IDENTITY CASCADE')
        )
        c.execute(
            text(
                "INSERT INTO agent (name, email, phone, email_invalid, phone_invalid, created_at, updated_at) "
                "SELECT 'Agent ' || g, 'agent' || g || '@brokerage.example', NULL, false, false, now(), now() "
                "FROM generate_series(1, :n) g"
            ),
            {"n": due},
        )
        c.execute(
            text(
                "INSERT INTO vendor (name, email, phone, language, agent_id, opt_out_email, opt_out_sms,"
                " opt_out_call, email_invalid, phone_invalid, active, created_at, updated_at) "
                "SELECT 'Vendor ' || g, 'ops' || g || '@vendor.example', NULL, 'en', g, false, false,"
                " false, false, false, true, now(), now() FROM generate_series(1, :n) g"
            ),
            {"n": due},
        )
        # due: one `missing` case per vendor, due now
        c.execute(
            text(
                'INSERT INTO "case" (vendor_id, trigger, workflow, campaign_id, state, step_index,'
                " trigger_date, next_action_at, step_attempts, data, created_at, updated_at) "
                "SELECT g, 'missing', 'missing', 0, 'active', 0, :d, :due, 0,"
                ' \'{"key": "missing"}\'::json, now(), now() FROM generate_series(1, :n) g'
            ),
            {"n": due, "d": NOW.date(), "due": NOW - timedelta(minutes=5)},
        )
        # not due: waiting cases spread over the next year
        c.execute(
            text(
                'INSERT INTO "case" (vendor_id, trigger, workflow, campaign_id, state, step_index,'
                " trigger_date, next_action_at, step_attempts, data, created_at, updated_at) "
                "SELECT 1 + (g % :v), 'campaign', 'campaign', g, 'waiting', 0, :d,"
                " :now + (1 + g % 525600) * interval '1 minute', 0, '{}'::json, now(), now() "
                "FROM generate_series(1, :n) g"
            ),
            {"n": total - due, "v": due, "d": NOW.date(), "now": NOW},
        )
        c.execute(text("ANALYZE"))


def run_engine(engine, settings) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    result = TickResult()
    t0 = time.perf_counter()
    advance_due(engine, now=NOW, settings=settings, enqueue=None, result=result)
    return time.perf_counter() - t0, result.advanced


def reset_due(engine, due: int) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as c:
        c.execute(text("TRUNCATE delivery, case_event RESTART IDENTITY CASCADE"))
        c.execute(
            text(
                "UPDATE \"case\" SET state='active', step_index=0, next_action_at=:due,"
                ' data=\'{"key": "missing"}\'::json WHERE id <= :n'
            ),
            {"n": due, "due": NOW - timedelta(minutes=5)},
        )


def run_baseline(engine) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    with engine.begin() as c:
        rows = c.execute(
            text(
                'UPDATE "case" SET step_index = step_index + 1, next_action_at = next_action_at +'
                " interval '5 days', updated_at = now() WHERE id IN (SELECT id FROM \"case\" WHERE"
                " state IN ('active','waiting') AND next_action_at <= :now ORDER BY next_action_at"
                " FOR UPDATE SKIP LOCKED) RETURNING id, vendor_id, step_index"
            ),
            {"now": NOW},
        ).all()
    return time.perf_counter() - t0, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--sizes", default="100000,1000000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    name = f"comms_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    settings = load_settings(outbox_dir=ROOT / "var" / "bench-outbox")
    out: dict[str, object] = {"due": args.due, "sizes": sizes, "runs": []}
    try:
        engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
        create_all(engine)
        runs = []
        for size in sizes:
            load(engine, size, args.due)
            base_s, base_n = run_baseline(engine)
            reset_due(engine, args.due)
            eng_s, eng_n = run_engine(engine, settings)
            runs.append(
                {
                    "cases": size,
                    "engine_s": eng_s,
                    "engine_steps": eng_n,
                    "baseline_s": base_s,
                    "baseline_rows": base_n,
                    "engine_steps_per_s": eng_n / eng_s,
                    "baseline_rows_per_s": base_n / base_s,
                }
            )
            print(
                f"{size:>9} cases, {args.due} due: engine {eng_s:.2f}s ({eng_n / eng_s:.0f} steps/s),"
                f" raw UPDATE…RETURNING {base_s:.3f}s ({base_n / base_s:.0f} rows/s)"
            )
        engine.dispose()
        growth = runs[-1]["engine_s"] / runs[0]["engine_s"]  # type: ignore[operator]
        ratio = runs[-1]["engine_steps_per_s"] / runs[-1]["baseline_rows_per_s"]  # type: ignore[operator]
        out.update(
            runs=runs,
            growth=growth,
            throughput_vs_baseline=ratio,
            growth_target=1.5,
            throughput_target=0.25,
        )
        print(f"growth {sizes[0]:,} → {sizes[-1]:,} cases: {growth:.2f}× (target ≤ 1.5×)")
        print(f"steps planned/s vs raw UPDATE…RETURNING: {ratio:.1%} (target ≥ 25%)")
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "workflow_scheduler.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
