"""Load the inbound IVR webhook (signature check, database lookup, TwiML) against a bare
Starlette route returning constant TwiML, on the same server, from a second process.

Usage: .venv/bin/python bench/ivr_webhook.py [--vendors 2000] [--duration 10] [--rounds 3]
       [--quick]

First every distinct caller calls once, one at a time: their status TwiML is built (the cold
path, reported as cold_pass). Then, on loopback: 1. wrk on the bare route; 2. wrk on
/twilio/voice/inbound with a Lua script that POSTs signed bodies from many different callers.
1 and 2 alternate in --rounds rounds, so that load from other processes on the machine hits
both alike; the ratio is the median of the rounds' ratios. 3. wrk again at a fixed rate, half
the IVR webhook's maximum (from the median round; 16 connections, each paced by a Lua
delay(); an approximation of wrk2, which is not installed), for its p99.
Targets: IVR rps ≥ 35% of the bare route's; p99 ≤ 100 ms at half load.
Writes bench/results/ivr_webhook.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
OUT = REPO / "bench" / "results" / "ivr_webhook.json"
PUBLIC_URL = "https://coi.example.test"
TOKEN = "bench-auth-token-7c1e9a2f4b"
BARE_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/x" numDigits="1">'
    "<Say>Hello from the bare route.</Say></Gather></Response>"
)


def env(db_url: str, data_dir: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("COMMS_")}
    out.update(
        {
            "COMMS_DATABASE_URL": db_url,
            "COMMS_DATA_DIR": data_dir,
            "COMMS_TWILIO_ACCOUNT_SID": "AC" + "0" * 31 + "9",
            "COMMS_TWILIO_AUTH_TOKEN": TOKEN,
            "COMMS_TWILIO_FROM_NUMBER": "+12125550100",
            "COMMS_PUBLIC_URL": PUBLIC_URL,
            "COMMS_LOG_LEVEL": "WARNING",
            "COMMS_CONFIG": str(REPO / "tests" / "support" / "empty.toml"),
        }
    )
    return out


def phone(i: int) -> str:
    return f"+1212{2000000 + i:07d}"


def populate(vendors: int) -> None:
    """Vendors with agents, profiles, certificates (some expired, some deficient)."""
    from sqlmodel import Session

    from comms.app.registry import metadata
    from comms.db import create_all, get_engine
    from comms.models import Agent, Certificate, Policy, Vendor
    from comms.profiles import ProfileSpec, save_profile

    engine = get_engine()
    create_all(engine, metadata)
    now = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    with Session(engine) as s:
        profile = save_profile(
            s,
            ProfileSpec.model_validate(
                {
                    "name": "standard",
                    "coverages": {
                        "general_liability": {
                            "limits": {"each_occurrence": 1000000, "general_aggregate": 2000000},
                            "additional_insured": True,
                        },
                        "workers_compensation": {"limits": {"el_each_accident": 500000}},
                    },
                }
            ),
        )
        for i in range(vendors):
            agent = Agent(name=f"Agent {i}", email=f"agent{i}@bench.test")
            s.add(agent)
            s.flush()
            vendor = Vendor(
                name=f"Vendor {i}",
                phone=phone(i),
                vendor_code=str(10000 + i),
                profile_id=profile.id,
                agent_id=agent.id,
                email=f"v{i}@bench.test",
            )
            s.add(vendor)
            s.flush()
            cert = Certificate(vendor_id=vendor.id or 0, received_at=now, status="accepted")
            s.add(cert)
            s.flush()
            expires = date(2027, 3, 1) - timedelta(days=(i % 240))
            for cov, limits in (
                (
                    "general_liability",
                    {"each_occurrence": 1000000 if i % 3 else 500000, "general_aggregate": 2000000},
                ),
                ("workers_compensation", {"el_each_accident": 500000}),
            ):
                s.add(
                    Policy(
                        certificate_id=cert.id or 0,
                        vendor_id=vendor.id or 0,
                        coverage=cov,
                        policy_number=f"P{i}",
                        effective_date=expires - timedelta(days=365),
                        expiration_date=expires,
                        limits=limits,
                        additional_insured=i % 5 != 0,
                    )
                )
        s.commit()


def serve(port: int) -> None:
    """The server process: our app with the bare route added."""
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import Response

    from comms.app.web import create_app
    from comms.settings import get_settings

    app = create_app(get_settings())

    async def bare(request: Request) -> Response:
        return Response(BARE_TWIML, media_type="application/xml")

    app.add_route("/bench/bare", bare, methods=["POST"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def server_config() -> dict[str, str]:
    """What uvicorn's defaults (http="auto", loop="auto") resolve to here."""
    installed = lambda name: importlib.util.find_spec(name) is not None  # noqa: E731
    return {
        "server": "uvicorn, 1 process",
        "http": "httptools" if installed("httptools") else "h11",
        "loop": "uvloop" if installed("uvloop") else "asyncio",
    }


def signed_requests(vendors: int, count: int) -> list[tuple[str, str]]:
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    validator = RequestValidator(TOKEN)
    out = []
    for i in range(count):
        params = {
            "CallSid": f"CA{i:032d}",
            "AccountSid": "AC" + "0" * 31 + "9",
            "From": phone((i * 7919) % vendors),
            "To": "+12125550100",
            "CallStatus": "ringing",
            "Direction": "inbound",
        }
        sig = validator.compute_signature(f"{PUBLIC_URL}/twilio/voice/inbound", params)
        out.append((urlencode(params), sig))
    return out


def lua_script(path: str, requests: list[tuple[str, str]], delay_ms: float | None = None) -> str:
    bodies = ",\n".join(f'{{"{b}", "{s}"}}' for b, s in requests)
    return textwrap.dedent(
        """
        local reqs = {
        %s
        }
        local n = 0
        request = function()
          n = n + 1
          local r = reqs[(n %% #reqs) + 1]
          return wrk.format("POST", "%s", {
            ["Content-Type"] = "application/x-www-form-urlencoded",
            ["X-Twilio-Signature"] = r[2]}, r[1])
        end
        """
    ) % (bodies, path) + (
        f"delay = function() return {delay_ms:.3f} end\n" if delay_ms is not None else ""
    )


def run_wrk(url: str, script: Path, duration: int, connections: int) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    lat = {m.group(1): m.group(2) for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M)}
    return {
        "rps": rps,
        "requests": done,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "latency": lat,
    }


def call_log_rows(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return int(
            conn.execute("SELECT count(*) FROM inbound_telephony WHERE kind = 'call'").fetchone()[0]
        )


def _ms(text: str) -> float:
    """wrk's `1.23ms` / `456.00us` / `1.02s` as milliseconds."""
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vendors", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="bare/IVR alternations")
    parser.add_argument("--quick", action="store_true", help="5 s phases, 500 vendors")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.quick:
        args.duration, args.vendors = 5, 500
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (scripts/system-deps.sh)")
    from tests.support.services import free_port

    tmp = Path(tempfile.mkdtemp(prefix="bench-ivr-"))
    db_url = f"sqlite:///{tmp / 'bench.db'}"
    os.environ.update(env(db_url, str(tmp)))
    populate(args.vendors)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port)], env=env(db_url, str(tmp)), cwd=REPO
    )
    try:
        import httpx

        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        reqs = signed_requests(args.vendors, min(args.vendors, 500))
        base = f"http://127.0.0.1:{port}"
        check = httpx.post(
            f"{base}/twilio/voice/inbound",
            content=reqs[0][0],
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": reqs[0][1],
            },
        )
        assert check.status_code == 200 and "<Gather" in check.text, check.text[:300]
        bad = httpx.post(
            f"{base}/twilio/voice/inbound",
            content=reqs[0][0],
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert bad.status_code == 403
        # every distinct caller once, one at a time: their status TwiML is built (the cold
        # path: ORM queries and templates); the phases below measure the steady state
        cold = time.perf_counter()
        with httpx.Client(base_url=base) as client:
            for body, sig in reqs:
                client.post(
                    "/twilio/voice/inbound",
                    content=body,
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "X-Twilio-Signature": sig,
                    },
                ).raise_for_status()
        cold_ms = (time.perf_counter() - cold) * 1000 / len(reqs)
        answered = 1 + len(reqs)
        bare_lua, ivr_lua = tmp / "bare.lua", tmp / "ivr.lua"
        bare_lua.write_text(lua_script("/bench/bare", reqs))
        ivr_lua.write_text(lua_script("/twilio/voice/inbound", reqs))
        run_wrk(base, bare_lua, 2, args.connections)  # warm-up
        answered += run_wrk(base, ivr_lua, 2, args.connections)["requests"]
        rounds = []
        for _ in range(args.rounds):
            bare = run_wrk(base, bare_lua, args.duration, args.connections)
            ivr = run_wrk(base, ivr_lua, args.duration, args.connections)
            rounds.append((ivr["rps"] / bare["rps"], bare, ivr))
            answered += ivr["requests"]
        ratios = [r[0] for r in rounds]
        ratio = statistics.median(ratios)
        _, bare, ivr = min(rounds, key=lambda r: abs(r[0] - ratio))  # the median round
        half = ivr["rps"] / 2
        # fixed rate: each of `paced` connections waits paced/half seconds between requests
        paced = 16
        paced_lua = tmp / "paced.lua"
        paced_lua.write_text(lua_script("/twilio/voice/inbound", reqs, 1000.0 * paced / half))
        paced_run = run_wrk(base, paced_lua, args.duration, paced)
        answered += paced_run["requests"]
        half_load = {
            "achieved_rps": paced_run["rps"],
            "errors": paced_run["non_2xx"],
            "p50_ms": _ms(paced_run["latency"].get("50", "0ms")),
            "p90_ms": _ms(paced_run["latency"].get("90", "0ms")),
            "p99_ms": _ms(paced_run["latency"].get("99", "0ms")),
            "method": f"wrk, {paced} connections each paced with delay() to the target rate",
        }
        server.terminate()
        server.wait(30)  # a clean shutdown flushes the batched call log
        logged = call_log_rows(tmp / "bench.db")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "vendors": args.vendors,
        "duration_s": args.duration,
        "connections": args.connections,
        "server": server_config(),
        "rounds": [
            {"bare_rps": b["rps"], "ivr_rps": i["rps"], "ratio": round(r, 3)} for r, b, i in rounds
        ],
        "bare_route": bare,
        "ivr_webhook": ivr,
        "ratio": round(ratio, 3),
        # every answered call leaves a log row (wrk does not count the answers in flight when
        # a phase ends, so there may be a few more rows than counted answers)
        "call_log": {"ivr_answers_counted": answered, "rows": logged},
        "cold_pass": {
            "calls": len(reqs),
            "mean_ms": round(cold_ms, 2),
            "method": "each distinct caller once, sequentially, before the phases",
        },
        "half_load": {"target_rps": round(half, 1), **half_load},
        "targets": {"ratio_min": 0.35, "p99_ms_max": 100},
        "pass": ratio >= 0.35 and half_load["p99_ms"] <= 100 and half_load["errors"] == 0,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"bare route:  {bare['rps']:.0f} req/s  (p99 {bare['latency'].get('99')})")
    print(
        f"IVR webhook: {ivr['rps']:.0f} req/s  (p99 {ivr['latency'].get('99')}), "
        f"non-2xx {ivr['non_2xx']}"
    )
    print(
        f"ratio: {ratio:.2f} (target ≥ 0.35; median of rounds "
        + ", ".join(f"{r:.2f}" for r in ratios)
        + ")"
    )
    print(
        f"half load {half:.0f} req/s: p50 {half_load['p50_ms']:.1f} ms, "
        f"p99 {half_load['p99_ms']:.1f} ms (target ≤ 100), errors {half_load['errors']}"
    )
    print(f"cold pass: {len(reqs)} first calls, {cold_ms:.1f} ms each (status TwiML built)")
    print(f"call log: {logged} rows for {answered} answers counted by wrk")
    print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
