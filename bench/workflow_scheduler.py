"""Scheduler benchmark on PostgreSQL (issue 4, "Speed").

A table of 100,000 and then 1,000,000 cases, 10,000 of them due: 1% of the million, and the
same 10,000 at both sizes, so the growth shows what the table size costs. Measured side by
side in the same run, on the same rows, several times per size:

- engine: `workflows.scheduler.advance_due` with its defaults, exactly the claim-and-plan
  pass `comms tick` runs (SKIP LOCKED claim, verdict recomputed, calendar, delivery rows,
  events, case updates, each batch committed), with no broker to enqueue to. The steps it
  reports are the steps it ran; the rows it wrote are counted and checked after every run;
- baselines: one raw `UPDATE … RETURNING` over the same due rows, claimed FOR UPDATE SKIP
  LOCKED, written two ways. `in`: `WHERE id IN (SELECT …)`, for which PostgreSQL hash-joins
  a sequential scan of the whole table once it is large (so it slows down with the table);
  `indexed`: `WHERE id = ANY(ARRAY(SELECT …))`, primary-key lookups, the fastest raw form.
  The ratio that counts is against the faster of the two (`indexed` in practice): the
  engine is not credited for the baseline's poor plan;
- floor: the engine's own statements with no Python planning. What an engine pass wrote is
  read back once, and then written again batch by batch, as the engine writes it: the same
  claim statement, delivery ids drawn from the sequence, the delivery and event rows by COPY
  (bytes prepared ahead) and the case updates by the engine's `UPDATE … FROM
  json_to_recordset`, a commit per batch. It is the database's share of a pass: no planner,
  however fast, brings the engine below it (short of overlapping batches on a second core);
- set_based: the same rows (two emails and an event per case, the case moved on) written by
  PostgreSQL alone, in one `WITH … INSERT … INSERT … UPDATE` statement built from the values
  the engine's pass wrote, with no client in the loop and one transaction: what the writes the
  issue requires cost on this schema (foreign keys and indexes included) before any planning.

Before each measured pass the due cases are reset and the tables vacuumed, so every pass
starts from the same state. Medians are reported.

    .venv/bin/python bench/workflow_scheduler.py [--due 10000] [--sizes 100000,1000000] [--repeat 5]

Writes bench/results/workflow_scheduler.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from comms.app.registry import metadata  # noqa: E402
from comms.bulk_sql import PreparedUpdate, prepare_update, reserve_ids  # noqa: E402
from comms.db import create_all, make_engine  # noqa: E402
from comms.settings import Settings, load_settings  # noqa: E402
from workflows.batch_load import claim_statement, table  # noqa: E402
from workflows.records import CASE_CHANGES  # noqa: E402
from workflows.scheduler import BATCH, PIPELINE, TickResult, advance_due  # noqa: E402

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 New York
DUE_AT = NOW - timedelta(minutes=5)


def load(engine: Engine, total: int, due: int) -> float:
    """Vendors with an agent and no certificate, each with a `missing` case due now (ids
    1..due), plus waiting campaign cases spread over the next year (all set-based SQL)."""
    t0 = time.perf_counter()
    with engine.begin() as c:
        c.execute(
            text('TRUNCATE delivery, case_event, "case", vendor, agent RESTART IDENTITY CASCADE')
        )
        c.execute(
            text(
                "INSERT INTO agent (name, email, phone, email_invalid, phone_invalid,"
                " created_at, updated_at) SELECT 'Agent ' || g,"
                " 'agent' || g || '@brokerage.example', NULL, false, false, now(), now()"
                " FROM generate_series(1, :n) g"
            ),
            {"n": due},
        )
        c.execute(
            text(
                "INSERT INTO vendor (name, email, phone, language, agent_id, opt_out_email,"
                " opt_out_sms, opt_out_call, email_invalid, phone_invalid, active, created_at,"
                " updated_at) SELECT 'Vendor ' || g, 'ops' || g || '@vendor.example', NULL,"
                " 'en', g, false, false, false, false, false, true, now(), now()"
                " FROM generate_series(1, :n) g"
            ),
            {"n": due},
        )
        c.execute(
            text(
                'INSERT INTO "case" (vendor_id, trigger, workflow, campaign_id, state, step_index,'
                " trigger_date, next_action_at, step_attempts, data, created_at, updated_at)"
                " SELECT g, 'missing', 'missing', 0, 'active', 0, :d, :due, 0,"
                ' \'{"key": "missing"}\'::json, now(), now() FROM generate_series(1, :n) g'
            ),
            {"n": due, "d": NOW.date(), "due": DUE_AT},
        )
        c.execute(
            text(
                'INSERT INTO "case" (vendor_id, trigger, workflow, campaign_id, state, step_index,'
                " trigger_date, next_action_at, step_attempts, data, created_at, updated_at)"
                " SELECT 1 + (g % :v), 'campaign', 'campaign', g, 'waiting', 0, :d,"
                " :now + (1 + g % 525600) * interval '1 minute', 0, '{}'::json, now(), now()"
                " FROM generate_series(1, :n) g"
            ),
            {"n": total - due, "v": due, "d": NOW.date(), "now": NOW},
        )
    vacuum(engine)
    return time.perf_counter() - t0


def vacuum(engine: Engine) -> None:
    """Every table planning reads has statistics, as autovacuum gives a live database."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text('VACUUM (ANALYZE) "case", delivery, case_event, vendor, agent'))


def reset_due(engine: Engine, due: int) -> None:
    with engine.begin() as c:
        c.execute(text("TRUNCATE delivery, case_event RESTART IDENTITY CASCADE"))
        c.execute(
            text(
                "UPDATE \"case\" SET state='active', step_index=0, next_action_at=:due,"
                ' updated_at=now(), data=\'{"key": "missing"}\'::json WHERE id <= :n'
            ),
            {"n": due, "due": DUE_AT},
        )
    vacuum(engine)


DUE_IDS = (
    "SELECT id FROM \"case\" WHERE state IN ('active','waiting') AND next_action_at <= :now"
    " ORDER BY next_action_at FOR UPDATE SKIP LOCKED"
)
BASELINES = {
    "in": f"WHERE id IN ({DUE_IDS})",
    "indexed": f"WHERE id = ANY(ARRAY({DUE_IDS}))",
}


def run_baseline(engine: Engine, form: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    with engine.begin() as c:
        rows = c.execute(
            text(
                'UPDATE "case" SET step_index = step_index + 1, next_action_at = next_action_at'
                f" + interval '5 days', updated_at = now() {BASELINES[form]}"
                " RETURNING id, vendor_id, step_index"
            ),
            {"now": NOW},
        ).all()
    return time.perf_counter() - t0, len(rows)


def run_engine(engine: Engine, settings: Settings, due: int) -> tuple[float, TickResult]:
    result = TickResult()
    t0 = time.perf_counter()
    advance_due(engine, now=NOW, settings=settings, enqueue=None, result=result)
    elapsed = time.perf_counter() - t0
    check(engine, result, due)
    return elapsed, result


def check(engine: Engine, result: TickResult, due: int) -> None:
    """What the engine says it planned is in the database: two emails (vendor and agent) and
    a `step_done` event per due case, every due case on its next step and due later."""
    got = (result.advanced, result.steps, *written(engine, due))
    expected = (due, due, 2 * due, due, due)
    if got != expected or len(result.deliveries) != 2 * due:
        raise SystemExit(f"engine did not plan what it should: {got} != {expected}")


def written(engine: Engine, due: int) -> tuple[int, int, int]:
    """(queued emails, `step_done` events, due cases moved to their next step)."""
    with engine.connect() as c:
        deliveries = c.execute(
            text("SELECT count(*) FROM delivery WHERE status = 'queued' AND channel = 'email'")
        ).scalar_one()
        done = c.execute(
            text("SELECT count(*) FROM case_event WHERE kind = 'step_done'")
        ).scalar_one()
        moved = c.execute(
            text(
                'SELECT count(*) FROM "case" WHERE id <= :n AND step_index = 1'
                " AND next_action_at > :now"
            ),
            {"n": due, "now": NOW},
        ).scalar_one()
    return deliveries, done, moved


@dataclass
class Written:
    """What an engine pass wrote, batch by batch, ready to be written again by SQL alone
    (batch k holds the cases the engine's k-th claim takes: all are due at the same time, so
    the claim's order is the id order)."""

    claim: str
    deliveries: list[bytes]  # COPY text
    events: list[bytes]
    cases: list[PreparedUpdate]
    sizes: list[int]  # cases per batch


def read_back(engine: Engine, due: int, batch: int = BATCH) -> Written:
    """Read back what the engine just wrote for the `due` cases."""
    bounds = [(k, min(k + batch, due)) for k in range(0, due, batch)]
    cases = table("case")
    with engine.connect() as c:
        raw: Any = c.connection.dbapi_connection

        def dump(name: str, lo: int, hi: int) -> bytes:
            out = bytearray()
            with (
                raw.cursor() as cur,
                cur.copy(
                    f"COPY (SELECT * FROM {name} WHERE case_id > {lo} AND case_id <= {hi}"
                    " ORDER BY id) TO STDOUT"
                ) as copy,
            ):
                for chunk in copy:
                    out += chunk
            return bytes(out)

        updates = []
        for lo, hi in bounds:
            rows = c.execute(
                select(cases.c.id, *(cases.c[n] for n in CASE_CHANGES))
                .where(cases.c.id > lo, cases.c.id <= hi)
                .order_by(cases.c.id)
            ).all()
            updates.append(prepare_update(c, cases, [dict(r._mapping) for r in rows]))
        claim = claim_statement(now=NOW, limit=batch, skip_locked=True).compile(
            dialect=c.dialect, compile_kwargs={"literal_binds": True}
        )
        return Written(
            claim=str(claim),
            deliveries=[dump("delivery", lo, hi) for lo, hi in bounds],
            events=[dump("case_event", lo, hi) for lo, hi in bounds],
            cases=updates,
            sizes=[hi - lo for lo, hi in bounds],
        )


def run_floor(engine: Engine, w: Written) -> float:
    """Write `w` again as the engine does, with the planning taken out."""
    t0 = time.perf_counter()
    for deliveries, events, update, size in zip(
        w.deliveries, w.events, w.cases, w.sizes, strict=True
    ):
        with engine.begin() as c:
            raw: Any = c.connection.dbapi_connection
            with raw.cursor() as cur:
                cur.execute(w.claim)
                claimed = len(cur.fetchall())
                reserve_ids(c, table("delivery"), deliveries.count(b"\n"))
                for name, data in (("delivery", deliveries), ("case_event", events)):
                    with cur.copy(f"COPY {name} FROM STDIN") as copy:
                        copy.write(data)
            c.execute(text(update.sql), {"rows": update.doc})
        assert claimed == size, (claimed, size)
    return time.perf_counter() - t0


SET_BASED = """
WITH c AS (
  SELECT id, vendor_id FROM "case" WHERE next_action_at <= :now AND state IN ('active','waiting')
  ORDER BY next_action_at, id FOR UPDATE SKIP LOCKED),
r AS (
  SELECT c.id AS case_id, c.vendor_id, k.kind, k.ord,
    CASE WHEN k.kind = 'vendor' THEN v.email ELSE a.email END AS recipient
  FROM c JOIN vendor v ON v.id = c.vendor_id LEFT JOIN agent a ON a.id = v.agent_id
  CROSS JOIN (VALUES ('vendor', 1), ('agent', 2)) k(kind, ord)),
d AS (
  INSERT INTO delivery (idempotency_key, channel, recipient, recipient_kind, vendor_id, case_id,
    step, template, content, status, attempts, created_at, updated_at)
  SELECT 'case-' || case_id || '-' || :step || '-' || kind, 'email', recipient, kind, vendor_id,
    case_id, :step, :template, CAST(:content AS json), 'queued', 0, :now, :now
  FROM r ORDER BY case_id, ord RETURNING id, case_id),
e AS (
  INSERT INTO case_event (case_id, at, kind, step, reason, data)
  SELECT case_id, :now, 'step_done', :step, :reason,
    json_build_object('deliveries', json_agg(id ORDER BY id), 'nominal', NULL, 'attempt', 0)
  FROM d GROUP BY case_id RETURNING 1),
u AS (
  UPDATE "case" SET step_index = 1, next_action_at = :next, updated_at = :now,
    data = CAST(:data AS json)
  FROM c WHERE "case".id = c.id RETURNING 1)
SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM e), (SELECT count(*) FROM u)
"""


def set_based_params(engine: Engine, due: int) -> dict[str, Any]:
    """The values the engine's pass wrote, which are the same for every due case here (one
    workflow step, no time zones, one due time): read back and checked to be so."""
    with engine.connect() as c:
        one = c.execute(
            text(
                "SELECT count(DISTINCT d.step), count(DISTINCT d.template),"
                " count(DISTINCT d.content::text), count(DISTINCT e.reason),"
                " count(DISTINCT k.next_action_at), count(DISTINCT k.data::text),"
                " min(d.step), min(d.template), min(d.content::text), min(e.reason),"
                ' min(k.next_action_at), min(k.data::text) FROM delivery d JOIN "case" k'
                " ON k.id = d.case_id JOIN case_event e ON e.case_id = k.id WHERE k.id <= :n"
            ),
            {"n": due},
        ).one()
    if tuple(one[:6]) != (1,) * 6:
        raise SystemExit(f"the engine's pass is not uniform, no set-based equivalent: {one}")
    step, template, content, reason, next_at, data = one[6:]
    return dict(
        step=step,
        template=template,
        content=content,
        reason=reason,
        next=next_at,
        data=data,
        now=NOW,
    )


def run_set_based(engine: Engine, params: dict[str, Any]) -> tuple[float, tuple[int, ...]]:
    """The same rows written by PostgreSQL alone, in one set-based statement and transaction:
    what the required writes cost with no client in the loop at all."""
    t0 = time.perf_counter()
    with engine.begin() as c:
        counts = tuple(c.execute(text(SET_BASED), params).one())
    return time.perf_counter() - t0, counts


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def measure(engine: Engine, settings: Settings, size: int, due: int, repeat: int) -> dict[str, Any]:
    """Load `size` cases and time the engine and each baseline `repeat` times, interleaved."""
    setup_s = load(engine, size, due)
    times: dict[str, list[float]] = {
        "engine": [],
        **{form: [] for form in BASELINES},
        "floor": [],
        "set_based": [],
    }
    one_by_one = 0
    # a warm-up pass (imports, workflow definitions, connection pool), not measured; what it
    # wrote is what the floor writes again
    reset_due(engine, due)
    run_engine(engine, settings, due)
    w = read_back(engine, due)
    params = set_based_params(engine, due)
    for _ in range(repeat):
        for form in BASELINES:
            reset_due(engine, due)
            base_s, base_n = run_baseline(engine, form)
            assert base_n == due, (form, base_n)
            times[form].append(base_s)
        reset_due(engine, due)
        eng_s, result = run_engine(engine, settings, due)
        times["engine"].append(eng_s)
        one_by_one += result.one_by_one
        reset_due(engine, due)
        times["floor"].append(run_floor(engine, w))
        if written(engine, due) != (2 * due, due, due):
            raise SystemExit(f"the floor did not write what the engine did: {written(engine, due)}")
        reset_due(engine, due)
        set_s, counts = run_set_based(engine, params)
        if counts != (2 * due, due, due) or written(engine, due) != (2 * due, due, due):
            raise SystemExit(f"the set-based pass did not write what the engine did: {counts}")
        times["set_based"].append(set_s)
    medians = {k: statistics.median(v) for k, v in times.items()}
    eng = medians["engine"]
    best = min(BASELINES, key=lambda form: medians[form])
    floor = medians["floor"]
    run = {
        "cases": size,
        "setup_s": setup_s,
        "times_s": times,
        "medians_s": medians,
        "steps": due,
        "engine_steps_per_s": due / eng,
        "baseline": best,
        "baseline_rows_per_s": due / medians[best],
        "ratio": medians[best] / eng,
        "ratio_by_baseline": {form: medians[form] / eng for form in BASELINES},
        "floor_share_of_engine": floor / eng,
        "best_ratio_at_floor": medians[best] / floor,
        "best_ratio_set_based": medians[best] / medians["set_based"],
        "cases_one_by_one": one_by_one,
    }
    print(
        f"{size:>9,} cases, {due} due (setup {setup_s:.1f}s): engine median {ms(eng)} ms"
        f" ({due / eng:,.0f} steps/s); raw UPDATE…RETURNING median "
        + ", ".join(
            f"{form} {ms(medians[form])} ms ({medians[form] / eng:.1%})" for form in BASELINES
        )
        + f"; floor (the engine's SQL, no planning) {ms(floor)} ms = {floor / eng:.0%} of the"
        f" engine, {medians[best] / floor:.1%} of {best} at best; the same rows by one"
        f" set-based statement {ms(medians['set_based'])} ms ="
        f" {medians[best] / medians['set_based']:.1%} of {best}"
        + "   runs (ms): "
        + "; ".join(f"{k} {' '.join(ms(t) for t in v)}" for k, v in times.items())
    )
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    name = f"comms_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    settings = load_settings(outbox_dir=ROOT / "var" / "bench-outbox")
    out: dict[str, Any] = {
        "command": " ".join(["bench/workflow_scheduler.py", *sys.argv[1:]]),
        "due": args.due,
        "sizes": sizes,
        "repeat": args.repeat,
        "engine": {
            "function": "workflows.scheduler.advance_due",
            "batch": BATCH,
            "pipeline": PIPELINE,
        },
        "baselines": BASELINES,
    }
    try:
        engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
        create_all(engine, metadata)
        runs = [measure(engine, settings, size, args.due, args.repeat) for size in sizes]
        engine.dispose()
        growth = runs[-1]["medians_s"]["engine"] / runs[0]["medians_s"]["engine"]
        last = runs[-1]
        out.update(
            runs=runs,
            growth=growth,
            throughput_vs_baseline=last["ratio"],
            throughput_by_baseline=last["ratio_by_baseline"],
            growth_target=1.5,
            throughput_target=0.25,
        )
        print(f"growth {sizes[0]:,} → {sizes[-1]:,} cases: {growth:.2f}× (target ≤ 1.5×)")
        print(
            f"steps planned/s vs the fastest raw UPDATE…RETURNING ({last['baseline']}) at"
            f" {sizes[-1]:,}: {last['ratio']:.1%} (target ≥ 25%); vs each: "
            + ", ".join(f"{k} {v:.1%}" for k, v in last["ratio_by_baseline"].items())
        )
        print(
            f"the engine's own SQL without planning (floor) at {sizes[-1]:,}:"
            f" {last['floor_share_of_engine']:.0%} of the engine's time; a planner that cost"
            f" nothing would reach {last['best_ratio_at_floor']:.1%} of {last['baseline']}"
        )
        print(
            f"the same rows written by PostgreSQL alone in one set-based statement (no client"
            f" in the loop) at {sizes[-1]:,}: {last['best_ratio_set_based']:.1%} of"
            f" {last['baseline']}"
        )
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "workflow_scheduler.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
