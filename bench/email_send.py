"""Benchmark: templated emails through the whole path vs plain aiosmtplib, into a sink process.

    .venv/bin/python bench/email_send.py            # 10,000 messages
    .venv/bin/python bench/email_send.py --count 1000

The sink is an aiosmtpd server in another process that counts connections and messages and
discards the data. The whole path, on SQLite in a temp dir: phase 1 creates the outbox rows
with `queue_emails` (one statement per 500, as a campaign or the scheduler plans them);
phase 2 is `deliver_many`: claim, load the template contexts, render subject, text and HTML,
sign the reply token, store the content, build the MIME message, send through the pooled SMTP
sender, record the outcome. The baseline sends the same bytes, already built, with plain
aiosmtplib over the same number of connections. Path and baseline alternate in --rounds
rounds (default 5) so that load from other processes hits both alike. "delivery" compares
phase 2 with the baseline; "end to end" (the figure the issue's target applies to) adds
phase 1.
Figures go to bench/results/email_send.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# --- the sink (runs in its own process) ----------------------------------------------------


def run_sink(port: int) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    stats = {"connections": 0, "messages": 0}

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            stats["messages"] += 1
            return "250 OK"

    class CountingSMTP(SMTP):
        def connection_made(self, transport):  # type: ignore[no-untyped-def]
            stats["connections"] += 1
            super().connection_made(transport)

        async def smtp_XSTAT(self, arg: str) -> None:  # noqa: N802
            await self.push(f"250 {stats['connections']} {stats['messages']}")

        async def smtp_XRESET(self, arg: str) -> None:  # noqa: N802
            stats["connections"] = 0
            stats["messages"] = 0
            await self.push("250 reset")

    class SinkController(Controller):
        def factory(self):  # type: ignore[no-untyped-def]
            return CountingSMTP(self.handler, hostname="sink", timeout=300)

    controller = SinkController(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin
    finally:
        controller.stop()


async def sink_command(port: int, command: str) -> tuple[int, int]:
    import aiosmtplib

    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await client.connect()
    response = await client.execute_command(command.encode())
    await client.quit()
    parts = response.message.split()
    if command == "XSTAT":
        return int(parts[0]) - 1, int(parts[1])  # minus this connection
    return 0, 0


# --- the measured runs ---------------------------------------------------------------------


async def baseline(port: int, payloads: list[tuple[str, str, bytes]], connections: int) -> float:
    import aiosmtplib

    queue: asyncio.Queue[tuple[str, str, bytes]] = asyncio.Queue()
    for item in payloads:
        queue.put_nowait(item)

    async def worker() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await client.connect()
        while not queue.empty():
            sender, rcpt, data = queue.get_nowait()
            await client.sendmail(sender, [rcpt], data)
        await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5, help="path/baseline alternations")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(args.sink)
        return

    from tests.support.services import free_port

    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, __file__, "--sink", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
        results = run(port, args.count, args.connections, args.rounds)
    finally:
        if sink.stdin:
            sink.stdin.close()
        sink.wait(timeout=30)
    out = ROOT / "bench" / "results" / "email_send.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"wrote {out}")


TEMPLATE = "certificate_request"


def run(port: int, count: int, connections: int, rounds: int = 5) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="email-bench-"))
    os.environ.update(
        {
            "COMMS_DATA_DIR": str(tmp),
            "COMMS_SMTP_HOST": "127.0.0.1",
            "COMMS_SMTP_PORT": str(port),
            "COMMS_SMTP_CONNECTIONS": str(connections),
            "COMMS_SECRET_KEY": "bench-signing-key-0123456789",
            "COMMS_CONFIG": str(ROOT / "tests" / "support" / "empty.toml"),
        }
    )
    from sqlmodel import Session, col, select

    from comms import dispatch
    from comms.app.registry import metadata
    from comms.db import create_all, make_engine
    from comms.email.compose import EmailRequest, queue_emails
    from comms.email.message import envelope_sender, message_bytes
    from comms.models import Delivery, Vendor
    from comms.profiles import read_profile, save_profile
    from comms.settings import get_settings

    settings = get_settings()
    sender = envelope_sender(settings)
    engine = make_engine(settings.effective_database_url)
    create_all(engine, metadata)
    now = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)

    with Session(engine) as s:
        profile = save_profile(s, read_profile(ROOT / "config" / "requirements" / "standard.yaml"))
        vendors = [
            Vendor(
                name=f"Vendor {i}",
                contact_name=f"Contact {i}",
                email=f"v{i}@sink.test",
                profile_id=profile.id,
            )
            for i in range(count)
        ]
        s.add_all(vendors)
        s.commit()
        vendor_ids = [v.id for v in vendors]

    # phase 1: outbox rows (one statement per 500; rendered and signed at their first send)
    started = time.perf_counter()
    ids: list[int] = []
    with Session(engine, expire_on_commit=False) as s:
        for start in range(0, len(vendor_ids), 500):
            chunk = s.exec(
                select(Vendor).where(col(Vendor.id).in_(vendor_ids[start : start + 500]))
            ).all()
            created = queue_emails(
                s,
                [
                    EmailRequest(idempotency_key=f"bench:{v.id}", template=TEMPLATE, vendor=v)
                    for v in chunk
                ],
                now=now,
                settings=settings,
            )
            s.commit()
            ids.extend(c.id for c in created if c.created)
    queue_s = time.perf_counter() - started
    assert len(ids) == count

    # phase 2, interleaved with the baseline in rounds so that load from other processes
    # on this machine hits both sides alike: the path renders, signs, builds and sends
    deliver_s = base_s = 0.0
    conns_path = msgs_path = conns_base = msgs_base = 0
    sent = 0
    size = -(-count // rounds)
    for start in range(0, count, size):
        chunk_ids = ids[start : start + size]
        asyncio.run(sink_command(port, "XRESET"))
        t0 = time.perf_counter()
        results = dispatch.deliver_many(chunk_ids, now=now, engine=engine)
        deliver_s += time.perf_counter() - t0
        c, m = asyncio.run(sink_command(port, "XSTAT"))
        conns_path += c
        msgs_path += m
        sent += sum(1 for r in results if r is not None and r.status == "sent")
        # the baseline: the bytes the path just sent, already built, over plain aiosmtplib
        with Session(engine) as s:
            rows = s.exec(select(Delivery).where(col(Delivery.id).in_(chunk_ids))).all()
            payloads = [(sender, r.recipient, message_bytes(r, settings)) for r in rows]
        asyncio.run(sink_command(port, "XRESET"))
        base_s += asyncio.run(baseline(port, payloads, connections))
        c, m = asyncio.run(sink_command(port, "XSTAT"))
        conns_base += c
        msgs_base += m
    dispatch.shutdown()
    path_rate = count / deliver_s
    e2e_rate = count / (queue_s + deliver_s)
    base_rate = count / base_s
    return {
        "count": count,
        "connections": connections,
        "rounds": rounds,
        "sent": sent,
        "sink_messages_path": msgs_path,
        "sink_messages_baseline": msgs_base,
        "queue_seconds": round(queue_s, 2),
        "deliver_seconds": round(deliver_s, 2),
        "baseline_seconds": round(base_s, 2),
        "delivery_rate_per_s": round(path_rate, 1),
        "end_to_end_rate_per_s": round(e2e_rate, 1),
        "baseline_rate_per_s": round(base_rate, 1),
        "ratio_delivery_vs_baseline": round(path_rate / base_rate, 3),
        "ratio_end_to_end_vs_baseline": round(e2e_rate / base_rate, 3),
        "connections_opened_path": conns_path,
        "connections_per_100_messages": round(100 * conns_path / max(1, msgs_path), 3),
        "connections_opened_baseline": conns_base,
        "targets": {"ratio_min": 0.7, "connections_per_100_max": 1.0},
    }


if __name__ == "__main__":
    main()
