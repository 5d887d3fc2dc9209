"""Benchmark: delivery under faults. For each fault: runs, lost, sent twice, time to recover.

    .venv/bin/python bench/faults.py                 # 400 emails a run, 1 run per fault
    .venv/bin/python bench/faults.py --count 1000 --runs 2
    .venv/bin/python bench/faults.py --only db_refused worker_kill9
    .venv/bin/python bench/faults.py --only concurrent_completes --complete-runs 20

Needs PostgreSQL at 127.0.0.1:5432 (a scratch database is created and dropped) and Redis at
127.0.0.1:6379 (database 14, flushed). An aiosmtpd server in this process receives the mail
(20 ms per message, two connections) and counts each Message-ID; PostgreSQL, Redis and the SMTP
server sit behind TCP proxies this script cuts (`tests/support/tcp_proxy.py`).

| fault | what happens | "time to recover" |
|---|---|---|
| baseline | no fault | time to send every row |
| db_refused | PostgreSQL refuses connections for `--outage` s mid-delivery | restore → all sent |
| worker_kill9 | `comms worker` (Redis broker) killed with SIGKILL mid-campaign, restarted; the sweep runs every second | restart → all sent |
| smtp_421 | the server answers 421 to 20 DATA commands | the retry pass (its backoff skipped) → all sent |
| smtp_drop | the server drops the connection after DATA for 10 messages | the retry pass → all sent |
| smtp_down | the SMTP server is unreachable for `--outage` s mid-delivery | the retry pass → all sent |
| redis_down | Redis refuses connections while the campaign is enqueued | the sweep's pass → all sent |
| concurrent_completes | the same staff member completes one call task three times at once through the staff API (a real server) | the three requests' time |

"lost": rows not `sent` at the end, or sent rows the server never received. The retry pass
does what the scheduler's passes do between two sends: journals recovered, and rows a stream
left `sending` (`comms.delivery_batch`: a lease too old to start a send) re-queued once their
lease is over, waiting for it (a run's `swept`). "sent twice":
messages the server received more than once (same Message-ID). For concurrent_completes
(`--complete-runs` runs, 20 by default) "lost" counts runs where no complete was applied and
"sent twice" the completes applied beyond the first (outcome events, audit rows or 200s). The figures go to
bench/results/faults.json; the ratio printed is each fault's time to recover over the
baseline's time to send.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
COMMS = str(Path(sys.executable).with_name("comms"))
REDIS_URL = "redis://127.0.0.1:6379/14"


@dataclass
class Run:
    fault: str
    lost: int
    twice: int
    recover_s: float
    outage_s: float | None = None
    not_sent: dict[str, int] | None = None  # the statuses of the rows not sent at the end
    swept: int = 0  # rows a stream left `sending` for the sweep (re-queued after their lease)


def _env(data: Path, db_url: str, smtp_port: int, broker: str = "") -> dict[str, str]:
    env = {
        "COMMS_DATA_DIR": str(data),
        "COMMS_DATABASE_URL": db_url,
        "COMMS_SMTP_HOST": "127.0.0.1",
        "COMMS_SMTP_PORT": str(smtp_port),
        "COMMS_SMTP_CONNECTIONS": "2",
        "COMMS_SMTP_TIMEOUT": "5",
        "COMMS_SECRET_KEY": "bench-signing-key-0123456789",
        "COMMS_REPLY_DOMAIN": "reply.test",
        "COMMS_MAIL_FROM": "COI Desk <coi@sender.test>",
        "COMMS_HOLDER_NAME": "Bench Holdings",
        "COMMS_HOLDER_ADDRESS": "1 Main St, Springfield",
        "COMMS_LOG_LEVEL": "ERROR",
        "COMMS_CONFIG": str(ROOT / "tests" / "support" / "empty.toml"),
    }
    if broker:
        env["COMMS_BROKER_URL"] = broker
    return env


STAFF_TOKENS = {"ann": "ann-token-0123456789abcdef"}


class Bench:
    def __init__(self, count: int, outage: float) -> None:
        from sqlalchemy import create_engine, text

        from comms.app.registry import metadata
        from comms.db import create_all, make_engine
        from tests.support.smtp_server import SmtpTestServer
        from tests.support.tcp_proxy import TcpProxy

        self.count = count
        self.outage = outage
        self.tmp = Path(tempfile.mkdtemp(prefix="faults-"))
        self.admin = create_engine(
            "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
        )
        self.dbname = f"comms_faults_{os.getpid()}"
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.dbname}"'))
            conn.execute(text(f'CREATE DATABASE "{self.dbname}"'))
        self.db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.dbname}"
        self.engine = make_engine(self.db_url)
        create_all(self.engine, metadata)
        self.smtp = SmtpTestServer().__enter__()
        self.smtp.data_delay = 0.02
        self.smtp_proxy = TcpProxy(self.smtp.host, self.smtp.port).start()
        self.pg_proxy = TcpProxy("127.0.0.1", 5432).start()
        self.redis_proxy = TcpProxy("127.0.0.1", 6379).start()
        self.runs = 0
        self.server: Any = None
        self.server_url = ""

    def close(self) -> None:
        from sqlalchemy import text

        if self.server is not None:
            self.server.should_exit = True
        for proxy in (self.smtp_proxy, self.pg_proxy, self.redis_proxy):
            proxy.close()
        self.smtp.__exit__(None, None, None)
        self.engine.dispose()
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)'))
        self.admin.dispose()
        shutil.rmtree(self.tmp, ignore_errors=True)  # the runs' data folders (journals)

    # --- one run's setting up and counting ---

    def configure(self, *, broker: str = "", extra: dict[str, str] | None = None) -> Path:
        """Fresh tables, server counts and settings for one run; its data folder."""
        from comms import dispatch
        from comms.settings import reset_settings_cache
        from tests.support.db import reset_tables

        dispatch.shutdown()
        reset_tables(self.engine)
        with self.smtp.lock:
            self.smtp.messages.clear()
        # a fault armed late in the last run must not strike this one
        self.smtp.drop_next_data = self.smtp.drop_next_mail = False
        self.smtp.stall_next_data = 0.0
        self.smtp.next_data_replies.clear()
        self.swept = 0
        self.runs += 1
        data = self.tmp / f"run{self.runs}"
        for key in [k for k in os.environ if k.startswith("COMMS_")]:
            del os.environ[key]
        os.environ.update(_env(data, self.db_url, self.smtp_proxy.port, broker))
        os.environ.update(extra or {})
        reset_settings_cache()
        return data

    def queue(self, now: datetime) -> list[int]:
        from sqlmodel import Session

        from comms.email.compose import EmailRequest, queue_emails
        from comms.settings import get_settings
        from tests.email.helpers import make_vendor

        with Session(self.engine, expire_on_commit=False) as s:
            vendors = [
                make_vendor(s, now, name=f"v{i}", email=f"v{i}@acme.test")
                for i in range(self.count)
            ]
            created = queue_emails(
                s,
                [
                    EmailRequest(idempotency_key=f"b:{v.id}", template="reminder", vendor=v)
                    for v in vendors
                ],
                now=now,
                settings=get_settings(),
            )
            s.commit()
        return [c.id for c in created if c.id is not None]

    def all_sent(self, ids: list[int]) -> bool:
        return self.statuses(ids).get("sent", 0) == len(ids)

    def statuses(self, ids: list[int]) -> Counter[str]:
        from sqlmodel import Session, col, select

        from comms.models import Delivery

        with Session(self.engine) as s:
            return Counter(s.exec(select(Delivery.status).where(col(Delivery.id).in_(ids))).all())

    def tally(
        self, fault: str, ids: list[int], recover_s: float, *, outage: float | None = None
    ) -> Run:
        from sqlmodel import Session, col, select

        from comms.models import Delivery

        with self.smtp.lock:
            received = Counter(str(m.message["Message-ID"]) for m in self.smtp.messages)
        with Session(self.engine) as s:
            rows = s.exec(select(Delivery).where(col(Delivery.id).in_(ids))).all()
        not_sent = sum(1 for r in rows if r.status != "sent")
        unreceived = sum(1 for r in rows if r.status == "sent" and r.message_id not in received)
        twice = sum(n - 1 for n in received.values())
        left = dict(Counter(r.status for r in rows if r.status != "sent")) or None
        lost = not_sent + unreceived
        return Run(fault, lost, twice, round(recover_s, 2), outage, left, self.swept)

    def wait(self, ids: list[int], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.all_sent(ids):
            time.sleep(0.2)

    def retry_pass(self, ids: list[int], now: datetime) -> float:
        """Deliver what waits for a retry, its backoff skipped, after the sweep's recovery
        (`sweep`); the seconds it took."""
        from comms.dispatch import deliver_many

        started = time.monotonic()
        later = now + timedelta(hours=2)
        for _ in range(6):
            if self.all_sent(ids):
                break
            self.sweep(ids, later)
            deliver_many(ids, now=later)
            later += timedelta(hours=2)
        return time.monotonic() - started

    def sweep(self, ids: list[int], now: datetime) -> None:
        """What the scheduler does before re-queueing: recover the journals no writer holds,
        then re-queue the rows left `sending` once their lease is over (waited for: no stream
        runs now, so such a row was left to the sweep). Counted in `self.swept`."""
        from sqlmodel import Session, col, func, select

        from comms.models import Delivery
        from comms.outbox import stale_deliveries
        from comms.outbox_journal import recover_journals
        from comms.settings import get_settings
        from comms.timeutil import utcnow

        recover_journals(self.engine, get_settings().journal_dir, now=now)
        with Session(self.engine) as s:
            sending = col(Delivery.id).in_(ids) & (col(Delivery.status) == "sending")
            left, until = s.exec(
                select(func.count(), func.max(Delivery.lease_until)).where(sending)
            ).one()
        if not left:
            return
        if until is not None:
            time.sleep(max(0.0, (until - utcnow()).total_seconds()) + 0.5)
        with Session(self.engine) as s:
            stale_deliveries(s, now=now)
            s.commit()
        self.swept += int(left)

    def in_background(self, fn: Callable[[], Any]) -> threading.Thread:
        thread = threading.Thread(target=fn, daemon=True)
        thread.start()
        return thread

    def when_received(self, n: int, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while len(self.smtp.messages) < n and time.monotonic() < deadline:
            time.sleep(0.005)

    # --- the faults ---

    def baseline(self) -> Run:
        from comms.dispatch import deliver_many

        self.configure()
        now = datetime.now(UTC)
        ids = self.queue(now)
        started = time.monotonic()
        deliver_many(ids, now=now)
        return self.tally("baseline", ids, time.monotonic() - started)

    def db_refused(self) -> Run:
        from comms.db import make_engine
        from comms.dispatch import deliver_many

        self.configure()
        now = datetime.now(UTC)
        ids = self.queue(now)
        proxied = make_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{self.pg_proxy.port}/{self.dbname}"
        )
        stream = self.in_background(lambda: deliver_many(ids, now=now, engine=proxied))
        self.when_received(self.count // 4)
        self.pg_proxy.cut()
        time.sleep(self.outage)
        self.pg_proxy.restore()
        restored = time.monotonic()
        stream.join(timeout=600)
        recover = time.monotonic() - restored
        proxied.dispose()
        return self.tally("db_refused", ids, recover, outage=self.outage)

    def worker_kill9(self) -> Run:
        import redis

        from comms import broker as broker_mod
        from comms.actors import DeliveryBatches
        from comms.outbox_journal import recover_journals
        from comms.settings import get_settings
        from workflows.scheduler import sweep

        redis.Redis.from_url(REDIS_URL).flushdb()
        data = self.configure(broker=REDIS_URL)
        now = datetime.now(UTC)
        ids = self.queue(now)
        broker_mod.setup_broker(get_settings())
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("COMMS_")}}
        env.update(_env(data, self.db_url, self.smtp_proxy.port, REDIS_URL))

        def worker() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [COMMS, "worker", "--threads", "4"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )

        stop = threading.Event()

        def scheduler() -> None:
            while not stop.wait(1.0):
                batches = DeliveryBatches()
                recover_journals(self.engine, get_settings().journal_dir, now=datetime.now(UTC))
                sweep(self.engine, now=datetime.now(UTC), enqueue=batches, exclude=set())
                batches.flush()

        first = worker()
        second = None
        try:
            batches = DeliveryBatches()
            for delivery_id in ids:
                batches(delivery_id)
            batches.flush()
            self.when_received(self.count // 4)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
            second = worker()
            restarted = time.monotonic()
            self.in_background(scheduler)
            self.wait(ids, 300)
            recover = time.monotonic() - restarted
        finally:
            stop.set()
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=30)
            broker_mod.reset()
        return self.tally("worker_kill9", ids, recover)

    def smtp_421(self) -> Run:
        from comms.dispatch import deliver_many

        self.configure()
        now = datetime.now(UTC)
        ids = self.queue(now)
        self.smtp.next_data_replies.extend(["421 4.3.2 try again later"] * 20)
        deliver_many(ids, now=now)
        return self.tally("smtp_421", ids, self.retry_pass(ids, now))

    def smtp_drop(self) -> Run:
        from comms.dispatch import deliver_many

        self.configure()
        now = datetime.now(UTC)
        ids = self.queue(now)
        dropped = 0
        stream_done = threading.Event()

        def dropper() -> None:
            nonlocal dropped
            while dropped < 10 and not stream_done.is_set():
                if not self.smtp.drop_next_data:
                    self.smtp.drop_next_data = True
                    dropped += 1
                time.sleep(0.05)

        drops = self.in_background(dropper)
        deliver_many(ids, now=now)
        stream_done.set()
        drops.join()
        self.smtp.drop_next_data = False  # armed after the last message: no drop
        if dropped < 10:
            print(f"  smtp_drop: only {dropped} drops armed during the stream", flush=True)
        return self.tally("smtp_drop", ids, self.retry_pass(ids, now))

    def smtp_down(self) -> Run:
        from comms.dispatch import deliver_many

        self.configure()
        now = datetime.now(UTC)
        ids = self.queue(now)

        def outage() -> None:
            self.when_received(self.count // 4)
            self.smtp_proxy.cut()
            time.sleep(self.outage)
            self.smtp_proxy.restore()

        server_down = self.in_background(outage)
        deliver_many(ids, now=now)
        server_down.join()  # the retries are for after the server is back
        return self.tally("smtp_down", ids, self.retry_pass(ids, now), outage=self.outage)

    def redis_down(self) -> Run:
        import redis

        from comms import broker as broker_mod
        from comms.actors import DeliveryBatches
        from comms.outbox import SWEEP_GRACE
        from comms.settings import get_settings
        from workflows.scheduler import sweep

        redis.Redis.from_url(REDIS_URL).flushdb()
        proxied = f"redis://127.0.0.1:{self.redis_proxy.port}/14"
        data = self.configure(broker=proxied)
        now = datetime.now(UTC)
        ids = self.queue(now)
        broker_mod.setup_broker(get_settings())
        self.redis_proxy.cut()
        try:
            batches = DeliveryBatches()
            for delivery_id in ids:
                batches(delivery_id)
            batches.flush()
        except Exception:  # what `comms run` logs: the sweep finds the rows
            pass
        self.redis_proxy.restore()
        restored = time.monotonic()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("COMMS_")}}
        env.update(_env(data, self.db_url, self.smtp_proxy.port, proxied))
        worker = subprocess.Popen(
            [COMMS, "worker", "--threads", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            batches = DeliveryBatches()
            # the next scheduler pass after the grace a new row gets for its first message
            sweep(self.engine, now=now + SWEEP_GRACE, enqueue=batches, exclude=set())
            batches.flush()
            self.wait(ids, 300)
            recover = time.monotonic() - restored
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            broker_mod.reset()
        return self.tally("redis_down", ids, recover)

    def web(self) -> str:
        """The staff API on a real port (one server for every run); its URL."""
        if self.server is None:
            import uvicorn

            from comms.app.web import create_app
            from comms.settings import get_settings
            from tests.support.services import free_port

            application = create_app(
                get_settings(),
                engine=self.engine,
                clock=lambda: datetime.now(UTC),
                enqueue=lambda _id, _now: None,
                batched_call_log=False,
            )
            port = free_port()
            self.server = uvicorn.Server(
                uvicorn.Config(application, host="127.0.0.1", port=port, log_level="error")
            )
            self.in_background(self.server.run)
            deadline = time.monotonic() + 20
            while not self.server.started and time.monotonic() < deadline:
                time.sleep(0.01)
            self.server_url = f"http://127.0.0.1:{port}"
        return self.server_url

    def concurrent_completes(self) -> Run:
        """One run: a call task claimed and wrapped by ann, then completed by her three times
        at once (three connections released together); how many completes were applied."""
        import httpx
        from sqlmodel import Session, col, func, select

        from comms import dispatch
        from comms.models import AuditLog, CaseEvent
        from comms.outbox import NewDelivery, create_delivery
        from telephony.models import CallTask
        from tests.telephony.conftest import AGENT_PHONE, make_world

        self.configure(
            extra={
                "COMMS_STAFF_TOKENS": json.dumps(STAFF_TOKENS),
                "COMMS_PUBLIC_URL": "https://coi.example.test",
                "COMMS_CALL_CENTER_NUMBER": "+12125550199",
            }
        )
        url = self.web()
        now = datetime.now(UTC)
        with Session(self.engine, expire_on_commit=False) as s:
            world = make_world(s, now)
            row, _ = create_delivery(
                s,
                NewDelivery(
                    idempotency_key=f"task-{world.vendor.id}",
                    channel="call_task",
                    recipient=AGENT_PHONE,
                    recipient_kind="agent",
                    template="call_agent",
                    vendor_id=world.vendor.id,
                    case_id=world.case.id,
                    step="agent_call_task",
                ),
                now=now,
            )
            s.commit()
        dispatch.deliver(row.id or 0, now=now, engine=self.engine)
        with Session(self.engine) as s:
            task_id = s.exec(select(CallTask.id)).one()
        headers = {"Authorization": f"Bearer {STAFF_TOKENS['ann']}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as ann:
            assert ann.post(f"/api/tasks/{task_id}/claim", json={}).status_code == 200
            assert ann.post(f"/api/tasks/{task_id}/wrap", json={}).status_code == 200
        barrier = threading.Barrier(3)
        codes: list[int] = []

        def complete() -> None:
            with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
                client.get("/healthz")  # the connection is open before the barrier
                barrier.wait()
                answer = client.post(
                    f"/api/tasks/{task_id}/complete", json={"outcome": "no_answer"}
                )
                codes.append(answer.status_code)

        started = time.monotonic()
        threads = [self.in_background(complete) for _ in range(3)]
        for thread in threads:
            thread.join(timeout=60)
        took = time.monotonic() - started
        with Session(self.engine) as s:
            outcomes = s.exec(
                select(func.count()).where(
                    CaseEvent.case_id == world.case.id, col(CaseEvent.kind).like("%outcome%")
                )
            ).one()
            audits = s.exec(
                select(func.count()).where(AuditLog.action == "call_task.complete")
            ).one()
        applied = max(int(outcomes), int(audits), codes.count(200))
        unexpected = [c for c in codes if c not in (200, 409)]
        if unexpected or len(codes) != 3:
            print(f"  concurrent_completes: answers {codes}", flush=True)
        return Run("concurrent_completes", int(applied == 0), max(applied - 1, 0), round(took, 2))


FAULTS = (
    "baseline",
    "db_refused",
    "worker_kill9",
    "smtp_421",
    "smtp_drop",
    "smtp_down",
    "redis_down",
    "concurrent_completes",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--outage",
        type=float,
        nargs="+",
        default=[5.0],
        help="seconds the database or SMTP server is away; several: one per run, in turn",
    )
    parser.add_argument("--complete-runs", type=int, default=20)
    parser.add_argument("--only", nargs="*", choices=FAULTS)
    args = parser.parse_args()
    chosen = args.only or list(FAULTS)
    if "baseline" not in chosen:
        chosen = ["baseline", *chosen]
    bench = Bench(args.count, args.outage[0])
    results: list[Run] = []
    try:
        for fault in chosen:
            runs = args.complete_runs if fault == "concurrent_completes" else args.runs
            for i in range(runs):
                bench.outage = args.outage[i % len(args.outage)]
                results.append(getattr(bench, fault)())
                print(f"  {results[-1]}", flush=True)
    finally:
        bench.close()
    base = [r.recover_s for r in results if r.fault == "baseline"]
    base_s = sum(base) / len(base)
    table: list[dict[str, Any]] = []
    print(f"\n{args.count} emails a run; baseline: all sent in {base_s:.1f} s")
    print(
        f"{'fault':<20} {'runs':>4} {'lost':>5} {'twice':>6} {'recover s':>10} {'vs baseline':>12}"
    )
    for fault in chosen:
        runs = [r for r in results if r.fault == fault]
        recover = max(r.recover_s for r in runs)
        row = {
            "fault": fault,
            "runs": len(runs),
            "lost": sum(r.lost for r in runs),
            "sent_twice": sum(r.twice for r in runs),
            "time_to_recover_s": recover,
            "ratio_to_baseline": round(recover / base_s, 2) if base_s else None,
        }
        table.append(row)
        print(
            f"{fault:<20} {row['runs']:>4} {row['lost']:>5} {row['sent_twice']:>6} "
            f"{recover:>10.1f} {row['ratio_to_baseline']:>11}x"
        )
    out = ROOT / "bench" / "results" / "faults.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "count": args.count,
                "outage_s": args.outage,
                "complete_runs": args.complete_runs,
                "table": table,
                "runs": [asdict(r) for r in results],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written to {out.relative_to(ROOT)}")
    return 1 if any(r["lost"] for r in table) else 0


if __name__ == "__main__":
    sys.exit(main())
