"""The call desk under load, and an interpreted IVR call.

Usage: .venv/bin/python bench/call_desk.py [--tasks 5000] [--callers 20] [--rounds 10]
       [--ivr-calls 40]

1. Claims (PostgreSQL): 5,000 open call tasks (one vendor each, scripts rendered), 20 signed-in
   callers on a `comms web` server in its own process, each in its own thread: press "next"
   (POST /calls/next, a conditional UPDATE through claim_next), open the task screen (GET
   /calls/{id}: script, vendor and agent, certificates, timeline), then save a disposition;
   `--rounds` times each. Timed: claim → script shown (the POST and the GET). Baseline, side by
   side in the same rounds: GET /healthz from the same threads (the HTTP floor). Checked:
   never one task to two callers (the ids each caller got, and the rows' holders).
2. IVR (the embedded defaults: SQLite): an interpreted call of five webhook round trips
   (the inbound call, 9, 9, 9, then 1) as a roster vendor, through the app in-process, against
   the same five round trips to a bare route answering constant TwiML.

Targets: claim → script p95 ≤ 150 ms; no double claim; the IVR call p95 ≤ 100 ms.
Writes bench/results/call_desk.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
OUT = REPO / "bench" / "results" / "call_desk.json"
ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PASSWORD = "bench password 0123456789"


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 2),
        "p95_ms": round(p95(ms), 2),
        "max_ms": round(max(ms), 2),
    }


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed(url: str, tasks: int, callers: int) -> None:
    from sqlmodel import Session

    from comms.app.registry import metadata
    from comms.db import create_all, make_engine
    from comms.staff.accounts import add_staff

    engine = make_engine(url)
    create_all(engine, metadata)
    now = datetime.now(UTC)
    script = (REPO / "templates" / "scripts" / "call.md").read_text()[:1500]  # a script's size
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO vendor (name, phone, email, active, language, created_at, "
                "updated_at, phone_invalid, email_invalid, opt_out_email, opt_out_sms, "
                "opt_out_call) "
                "SELECT 'Vendor ' || g, '+1212555' || lpad(g::text, 4, '0'), "
                "'v' || g || '@bench.test', true, 'en', :now, :now, false, false, false, false, "
                "false "
                "FROM generate_series(1, :n) g"
            ),
            {"now": now, "n": tasks},
        )
        c.execute(
            text(
                "INSERT INTO call_task (vendor_id, target_kind, target_name, phone, reason, "
                "script, priority, due_at, status, outcome_data, items, created_at, updated_at) "
                "SELECT v.id, 'vendor', v.name, v.phone, 'vendor_call_task', :script, "
                "1 + (v.id % 5), :now - (v.id || ' seconds')::interval, 'open', '{}', "
                "json_build_array(json_build_object('vendor_id', v.id, 'vendor_name', v.name, "
                "'reason', 'vendor_call_task', 'why', 'the certificate has expired')), :now, :now "
                "FROM vendor v"
            ),
            {"script": script, "now": now},
        )
    with Session(engine) as s:
        for i in range(callers):
            add_staff(s, f"caller{i}", "caller", PASSWORD, actor="bench", now=now)
        s.commit()
    engine.dispose()


def sign_in(client: httpx.Client, name: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, page.text[:300]
    r = client.post(
        "/login",
        data={"name": name, "password": PASSWORD, "csrf": token.group(1), "next": "/calls"},
    )
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/calls").text)
    assert r.status_code in (200, 303) and found, r.text[:300]
    return found.group(1)


def claims(base: str, callers: int, rounds: int, server_pid: int) -> dict[str, Any]:
    clients = [
        httpx.Client(base_url=base, timeout=30, follow_redirects=False) for _ in range(callers)
    ]
    tokens = [sign_in(c, f"caller{i}") for i, c in enumerate(clients)]
    for c in clients:
        c.follow_redirects = False
    desk: list[float] = []
    floor: list[float] = []
    got: dict[str, list[int]] = {f"caller{i}": [] for i in range(callers)}
    errors: list[str] = []
    lock = threading.Lock()
    cpu: dict[str, float] = {}

    def started() -> None:  # the callers are signed in: from here on, the rounds
        cpu.update(server=cpu_seconds(server_pid), own=time.process_time())
        cpu["wall"] = time.perf_counter()

    barrier = threading.Barrier(callers, action=started)

    def work(i: int) -> None:
        client, csrf, name = clients[i], tokens[i], f"caller{i}"
        barrier.wait()
        for _ in range(rounds):
            t0 = time.perf_counter()
            client.get("/healthz")
            t1 = time.perf_counter()
            r = client.post("/calls/next", data={"csrf": csrf})
            target = r.headers.get("location", "")
            if r.status_code != 303 or not target.startswith("/calls/"):
                with lock:
                    errors.append(f"{name}: next {r.status_code} {target}")
                return
            screen = client.get(target)
            t2 = time.perf_counter()
            task_id = int(target.rsplit("/", 1)[1])
            if screen.status_code != 200 or 'id="script"' not in screen.text:
                with lock:
                    errors.append(f"{name}: screen {screen.status_code}")
            done = client.post(
                f"/calls/{task_id}/complete", data={"csrf": csrf, "outcome": "no_answer"}
            )
            with lock:
                floor.append(t1 - t0)
                desk.append(t2 - t1)
                got[name].append(task_id)
                if done.status_code != 303:
                    errors.append(f"{name}: complete {done.status_code}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - cpu["wall"]
    server_cpu = cpu_seconds(server_pid) - cpu["server"]
    own_cpu = time.process_time() - cpu["own"]
    for c in clients:
        c.close()
    ids = [i for owned in got.values() for i in owned]
    per_round = 1000 / max(len(ids), 1)
    return {
        "claim_to_script": summary(desk),
        "baseline_healthz": summary(floor),
        "ratio_p95": round(p95(desk) / p95(floor), 2),
        "claims": len(ids),
        "distinct_tasks": len(set(ids)),
        "double_claims": len(ids) - len(set(ids)),
        "errors": errors[:10],
        # where the time went (CPU of the server process and of this one, the callers'
        # threads, per round of healthz + next + screen + complete)
        "seconds": round(wall, 2),
        "server_cpu_ms_per_round": round(server_cpu * per_round, 2),
        "bench_client_cpu_ms_per_round": round(own_cpu * per_round, 2),
        "got": got,
    }


def holders(url: str, got: dict[str, list[int]]) -> int:
    """Tasks whose stored holder is not the caller who was sent to it."""
    engine = create_engine(url)
    wrong = 0
    with engine.connect() as c:
        found = c.execute(text("SELECT id, claimed_by FROM call_task WHERE status = 'done'"))
        rows: dict[int, str] = {int(r[0]): str(r[1]) for r in found.all()}
    engine.dispose()
    for name, ids in got.items():
        wrong += sum(1 for i in ids if rows.get(i) != name)
    return wrong


def ivr(calls: int) -> dict[str, Any]:
    """Five round trips per call, in-process, SQLite (the embedded defaults)."""
    from fastapi import FastAPI, Response
    from sqlmodel import Session
    from starlette.testclient import TestClient

    from comms.app.web import create_app
    from comms.db import create_all, make_engine
    from comms.profiles import load_profiles
    from comms.roster import import_roster
    from comms.settings import get_settings, reset_settings_cache
    from telephony.interpreter import Interpreter, http_poster
    from telephony.sandbox_phone import call_ivr, line_number
    from telephony.signatures import auth_token

    folder = tempfile.mkdtemp(prefix="bench-ivr-")
    os.environ.update({"COMMS_DATA_DIR": folder, "COMMS_LOG_LEVEL": "WARNING"})
    os.environ["COMMS_CONFIG"] = str(REPO / "tests" / "support" / "empty.toml")
    reset_settings_cache()
    settings = get_settings()
    from comms.app.registry import metadata

    engine = make_engine(settings.effective_database_url)
    create_all(engine, metadata)
    now = datetime.now(UTC)
    with Session(engine) as s:
        load_profiles(s, REPO / "config" / "requirements")
        import_roster(s, REPO / "config" / "examples" / "roster.csv", now=now, region="US")
        s.commit()
    app = create_app(settings, clock=lambda: now, enqueue=lambda *_: None)
    presses = ["9", "9", "9", "1"]
    bare = FastAPI()
    twiml = (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Gather input="dtmf" '
        'action="/twilio/voice/bare" method="POST" numDigits="1"><Say>Hello.</Say></Gather>'
        "</Response>"
    )
    last = twiml.replace("<Gather", "<Say>Bye.</Say><Hangup/><X").split("<X")[0] + "</Response>"
    counter = {"n": 0}

    @bare.post("/twilio/voice/{rest:path}")
    def constant(rest: str) -> Response:
        counter["n"] += 1
        body = last if counter["n"] % 5 == 0 else twiml
        return Response(body, media_type="application/xml")

    timed: list[float] = []
    floor: list[float] = []
    with TestClient(app, base_url="http://sandbox.local") as real:
        bare_client = TestClient(bare, base_url="http://sandbox.local")
        post = http_poster(real)
        interp = Interpreter(
            http_poster(bare_client),
            public_url=settings.public_url,
            auth_token=auth_token(settings),
        )
        round_trips = 0
        for i in range(calls + 3):  # three warm-up calls
            t0 = time.perf_counter()
            transcript = call_ivr(settings, post, "(212) 555-0142", presses=presses)
            t1 = time.perf_counter()
            interp.call(
                from_number="+12125550142", to_number=line_number(settings), presses=presses
            )
            t2 = time.perf_counter()
            round_trips = len(transcript.requests)
            assert not transcript.failures, transcript.text()
            if i >= 3:
                timed.append(t1 - t0)
                floor.append(t2 - t1)
    engine.dispose()
    return {
        "round_trips_per_call": round_trips,
        "ivr_call": summary(timed),
        "baseline_bare_route": summary(floor),
        "ratio_p95": round(p95(timed) / p95(floor), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--callers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--ivr-calls", type=int, default=40)
    args = parser.parse_args()
    name = f"comms_bench_desk_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    out: dict[str, Any] = {
        "command": " ".join(["bench/call_desk.py", *sys.argv[1:]]),
        "tasks": args.tasks,
        "callers": args.callers,
        "rounds": args.rounds,
        "targets": {"claim_to_script_p95_ms": 150, "double_claims": 0, "ivr_call_p95_ms": 100},
    }
    server = None
    try:
        seed(url, args.tasks, args.callers)
        port = free_port()
        data = tempfile.mkdtemp(prefix="bench-desk-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMMS_")}
        env.update(
            {
                "COMMS_DATABASE_URL": url,
                "COMMS_DATA_DIR": data,
                "COMMS_LOG_LEVEL": "WARNING",
                "COMMS_SECRET_KEY": "bench-secret-key-0123456789",
                "COMMS_CONFIG": str(REPO / "tests" / "support" / "empty.toml"),
            }
        )
        comms = str(Path(sys.executable).parent / "comms")
        server = subprocess.Popen(
            [comms, "web", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("comms web did not start")
            time.sleep(0.2)
        result = claims(base, args.callers, args.rounds, server.pid)
        result["wrong_holders"] = holders(url, result.pop("got"))
        out["claims"] = result
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    out["ivr"] = ivr(args.ivr_calls)
    c, i = out["claims"], out["ivr"]
    out["met"] = {
        "claim_to_script": c["claim_to_script"]["p95_ms"] <= 150,
        "no_double_claim": c["double_claims"] == 0 and c["wrong_holders"] == 0,
        "ivr_call": i["ivr_call"]["p95_ms"] <= 100,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"claim → script: p95 {c['claim_to_script']['p95_ms']} ms "
        f"(median {c['claim_to_script']['median_ms']}), /healthz p95 "
        f"{c['baseline_healthz']['p95_ms']} ms, ratio {c['ratio_p95']}; "
        f"{c['claims']} claims by {args.callers} callers, {c['double_claims']} double, "
        f"{c['wrong_holders']} wrong holders; CPU per round (healthz, next, screen, complete): "
        f"server {c['server_cpu_ms_per_round']} ms, bench client "
        f"{c['bench_client_cpu_ms_per_round']} ms"
    )
    print(
        f"IVR call of {i['round_trips_per_call']} round trips: p95 {i['ivr_call']['p95_ms']} ms "
        f"(median {i['ivr_call']['median_ms']}), bare route p95 "
        f"{i['baseline_bare_route']['p95_ms']} ms, ratio {i['ratio_p95']}"
    )
    print(f"targets met: {out['met']}; written to {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
