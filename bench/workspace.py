"""Server time of the staff workspace's pages at scale, against a bare Starlette route reading
the same vendor row, in the same run, on SQLite and on PostgreSQL.

Usage: .venv/bin/python bench/workspace.py [--vendors 100000] [--requests 20]
       [--backends sqlite,postgres] [--pg-url URL] [--budget 60]

The data: VENDORS vendors (one requirement profile, an agent per ten), two accepted
certificates and four policies each (400,000 at 100,000 vendors), one case with four case
events and six outbox rows each (1,000,000 timeline events at 100,000 vendors), and 50
certificates held for review with a real ACORD 25 PDF. Each page is requested --requests times
through the ASGI app in this process, signed in; a request's server time is from the first
byte sent to the last byte read; a page slower than --budget seconds in all stops after three
requests (each page's request count is in the results). Targets: p95 ≤ 150 ms for the dashboard, a vendor page, the
vendor list's first page and a search; ≤ 500 ms for a review screen with its page image.
Writes bench/results/workspace.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
OUT = REPO / "bench" / "results" / "workspace.json"
SAMPLE = REPO / "tests" / "samples" / "acord25" / "acord_25_2016_03_sample.pdf"
NOW = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
PASSWORD = "a long bench password"
CHUNK = 20_000
TARGETS = {
    "dashboard": 150,
    "vendor_page": 150,
    "vendor_list": 150,
    "search": 150,
    "review_with_image": 500,
}


def _chunks(rows: list[dict[str, Any]], insert: Callable[[list[dict[str, Any]]], None]) -> None:
    for i in range(0, len(rows), CHUNK):
        insert(rows[i : i + CHUNK])


def populate(engine: Any, vendors: int, documents: Path) -> dict[str, int]:
    from sqlmodel import Session

    from comms.app.registry import metadata
    from comms.db import create_all
    from comms.profiles import ProfileSpec, save_profile
    from comms.staff.accounts import add_staff

    create_all(engine, metadata)
    t = metadata.tables
    with Session(engine) as s:
        profile = save_profile(
            s,
            ProfileSpec.model_validate(
                {
                    "name": "standard",
                    "coverages": {
                        "general_liability": {"limits": {"each_occurrence": 1_000_000}},
                        "workers_compensation": {"limits": {"el_each_accident": 500_000}},
                    },
                }
            ),
            now=NOW,
        )
        add_staff(s, "ann", "compliance", PASSWORD, actor="bench", now=NOW)
        s.commit()
        profile_id = profile.id
    conn_rows: dict[str, int] = {}
    with engine.begin() as conn:

        def put(table: str, rows: list[dict[str, Any]]) -> None:
            _chunks(rows, lambda part: conn.execute(t[table].insert(), part))
            conn_rows[table] = conn_rows.get(table, 0) + len(rows)

        agents = max(1, vendors // 10)
        put(
            "agent",
            [
                {"id": i, "name": f"Agent {i}", "email": f"agent{i}@agency.example",
                 "created_at": NOW, "updated_at": NOW}
                for i in range(1, agents + 1)
            ],
        )  # fmt: skip
        put(
            "vendor",
            [
                {
                    "id": i, "name": f"Vendor {i:06d} Contracting LLC",
                    "email": f"office{i}@vendor{i}.example", "phone": f"+1212{3000000 + i:07d}",
                    "vendor_code": f"{100000 + i}", "profile_id": profile_id,
                    "agent_id": 1 + i % agents, "created_at": NOW, "updated_at": NOW,
                }
                for i in range(1, vendors + 1)
            ],
        )  # fmt: skip
        certs, policies = [], []
        for i in range(1, vendors + 1):
            for k in (0, 1):
                cid = 2 * i - 1 + k
                received = NOW - timedelta(days=400 - 365 * k)
                certs.append({"id": cid, "vendor_id": i, "source": "roster",
                              "status": "accepted", "received_at": received,
                              "created_at": received, "extraction": {},
                              "doubtful_fields": []})  # fmt: skip
                start = date(2025, 6, 1) + timedelta(days=365 * k + i % 300)
                for cov, lim in (("general_liability", {"each_occurrence": 1_000_000}),
                                 ("workers_compensation", {"el_each_accident": 500_000})):  # fmt: skip
                    policies.append({"certificate_id": cid, "vendor_id": i, "coverage": cov,
                                     "policy_number": f"{cov[:2].upper()}-{cid}",
                                     "effective_date": start,
                                     "expiration_date": start + timedelta(days=365),
                                     "limits": lim, "created_at": NOW, "updated_at": NOW})  # fmt: skip
        put("certificate", certs)
        put("policy", policies)
        del certs, policies
        digest = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
        folder = documents / digest[:2]
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE, folder / f"{digest}.pdf")
        held_base = 2 * vendors + 1
        put(
            "certificate",
            [
                {"id": held_base + j, "vendor_id": 1 + j * 7 % vendors, "source": "email",
                 "status": "needs_review", "received_at": NOW - timedelta(hours=j),
                 "created_at": NOW, "document_path": str(folder / f"{digest}.pdf"),
                 "document_sha256": digest, "doubtful_fields": ["insured.name"],
                 "extraction": {"insured": {"name": "Lisa Gomez, LLC"},
                                "confidence": {"insured.name": 0.4}}}
                for j in range(50)
            ],
        )  # fmt: skip
        put(
            "case",
            [
                {"id": i, "vendor_id": i, "trigger": "expiring", "workflow": "expiring",
                 "state": "waiting", "data": {}, "created_at": NOW, "updated_at": NOW}
                for i in range(1, vendors + 1)
            ],
        )  # fmt: skip
        events = []
        for i in range(1, vendors + 1):
            for k in range(4):
                events.append({"case_id": i, "kind": "step_done", "step": f"email_{k}",
                               "at": NOW - timedelta(days=40 - 10 * k), "reason": "",
                               "data": {}})  # fmt: skip
        put("case_event", events)
        events = []
        for i in range(1, vendors + 1):
            for k in range(6):
                events.append({"idempotency_key": f"b{i}-{k}", "channel": "email",
                               "recipient": f"agent{1 + i % agents}@agency.example",
                               "recipient_kind": "agent", "vendor_id": i, "case_id": i,
                               "template": "reminder", "subject": f"Reminder {k}",
                               "body_text": "Please send the renewed certificate.",
                               "status": "sent", "created_at": NOW - timedelta(days=60 - k),
                               "sent_at": NOW - timedelta(days=60 - k), "content": {}})  # fmt: skip
        put("delivery", events)
    return conn_rows


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def measure(engine: Any, requests: int, vendors: int, budget: float) -> dict[str, Any]:
    from fastapi.testclient import TestClient
    from sqlalchemy import text
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from comms.app.web import create_app
    from comms.settings import get_settings

    app = create_app(get_settings(), engine=engine, clock=lambda: NOW, enqueue=lambda *_: None)

    def bare(request: Any) -> JSONResponse:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT id, name, email FROM vendor WHERE id = :i"),
                {"i": int(request.path_params["vid"])},
            ).one()
        return JSONResponse({"id": row[0], "name": row[1], "email": row[2]})

    bare_app = Starlette(routes=[Route("/vendor/{vid}", bare)])
    page = {"accept": "text/html"}
    out: dict[str, Any] = {}
    with TestClient(app, base_url="http://127.0.0.1") as client, TestClient(bare_app) as bare_c:
        login = client.get("/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', login)
        assert csrf
        r = client.post(
            "/login",
            data={"name": "ann", "password": PASSWORD, "csrf": csrf.group(1), "next": "/"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        held = 2 * vendors + 1
        cases: dict[str, Callable[[int], list[str]]] = {
            "bare_route": lambda i: [f"/vendor/{1 + i * 7919 % vendors}"],
            "dashboard": lambda i: ["/"],
            "vendor_page": lambda i: [f"/vendors/{1 + i * 7919 % vendors}"],
            "vendor_list": lambda i: ["/vendors"],
            "search": lambda i: [f"/vendors?q=Vendor%20{(i * 7919 % vendors):06d}"],
            "review_with_image": lambda i: [
                f"/review/{held + i % 50}",
                f"/certificates/{held + i % 50}/page.png",
            ],
        }
        for name, paths in cases.items():
            times: list[float] = []
            user = bare_c if name == "bare_route" else client
            began = time.perf_counter()
            for i in range(requests + 1):
                if len(times) >= 3 and time.perf_counter() - began > budget:
                    break  # a slow page: fewer samples (the count is reported)
                started = time.perf_counter()
                for path in paths(i):
                    resp = user.get(path, headers=page)
                    assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])
                elapsed = (time.perf_counter() - started) * 1000
                if i:  # the first request warms caches (templates, the page image)
                    times.append(elapsed)
            out[name] = {
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(_p95(times), 1),
                "requests": len(times),
            }
            print(f"  {name:18} p50 {out[name]['p50_ms']:9.1f} ms  p95 {out[name]['p95_ms']:9.1f} ms",
                  flush=True)  # fmt: skip
    bare_p95 = out["bare_route"]["p95_ms"]
    for name, target in TARGETS.items():
        out[name]["target_p95_ms"] = target
        out[name]["meets_target"] = out[name]["p95_ms"] <= target
        out[name]["ratio_to_bare_p95"] = round(out[name]["p95_ms"] / max(bare_p95, 0.01), 1)
    return out


def run_backend(
    backend: str, vendors: int, requests: int, pg_url: str, budget: float
) -> dict[str, Any]:
    from comms.db import dispose_engines, make_engine
    from comms.settings import reset_settings_cache

    tmp = Path(tempfile.mkdtemp(prefix="bench-workspace-"))
    try:
        os.environ["COMMS_DATA_DIR"] = str(tmp / "var")
        os.environ["COMMS_CONFIG"] = str(REPO / "tests" / "support" / "empty.toml")
        os.environ["COMMS_LOG_LEVEL"] = "WARNING"
        if backend == "sqlite":
            url = f"sqlite:///{tmp / 'bench.db'}"
        else:
            from sqlalchemy import create_engine, text

            admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text("DROP DATABASE IF EXISTS bench_workspace"))
                conn.execute(text("CREATE DATABASE bench_workspace"))
            admin.dispose()
            url = pg_url.rsplit("/", 1)[0] + "/bench_workspace"
        os.environ["COMMS_DATABASE_URL"] = url
        reset_settings_cache()
        engine = make_engine(url, pooled=True) if backend == "sqlite" else make_engine(url)
        started = time.perf_counter()
        from comms.settings import get_settings

        counts = populate(engine, vendors, get_settings().documents_dir)
        if backend == "postgres":
            with engine.begin() as conn:
                from sqlalchemy import text

                conn.execute(text("ANALYZE"))
        built = time.perf_counter() - started
        print(f"{backend}: built {counts} in {built:.0f} s", flush=True)
        result = measure(engine, requests, vendors, budget)
        engine.dispose()
        dispose_engines()
        timeline = counts.get("case_event", 0) + counts.get("delivery", 0)
        return {
            "vendors": counts["vendor"],
            "policies": counts["policy"],
            "timeline_events": timeline,
            "build_seconds": round(built, 1),
            "pages": result,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vendors", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--budget", type=float, default=60.0, help="seconds per page before sampling stops"
    )
    args = parser.parse_args()
    results: dict[str, Any] = {
        "benchmark": "workspace",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "requests_per_page": args.requests,
        "backends": {},
    }
    for backend in args.backends.split(","):
        results["backends"][backend] = run_backend(
            backend, args.vendors, args.requests, args.pg_url, args.budget
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
