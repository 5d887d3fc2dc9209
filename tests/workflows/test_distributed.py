"""The ladder on PostgreSQL with the Redis broker: two schedulers and two worker processes at
once; every step is delivered exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms.models import Delivery, Vendor
from tests.support.services import port_open, require
from tests.support.smtp_server import SmtpTestServer
from tests.workflows.conftest import add_vendor

COMMS = str(Path(sys.executable).with_name("comms"))
REDIS_URL = "redis://127.0.0.1:6379/11"


def _flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def _settle(engine: Engine, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with Session(engine) as s:
            if not s.exec(select(Delivery).where(Delivery.status == "sending")).first():
                return
        time.sleep(0.2)


@pytest.mark.postgres
def test_two_schedulers_two_workers_deliver_each_step_once(
    pg_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require(port_open("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    _flush_redis()
    with Session(pg_db) as s:
        add_vendor(s)
        add_vendor(s, name="Bright Electric Co", phone="+16465550100")
    with SmtpTestServer() as smtp:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("COMMS_")},
            "COMMS_DATA_DIR": str(tmp_path / "var"),
            "COMMS_CONFIG": os.environ["COMMS_CONFIG"],
            "COMMS_DATABASE_URL": pg_db.url.render_as_string(hide_password=False),
            "COMMS_SMTP_HOST": smtp.host,
            "COMMS_SMTP_PORT": str(smtp.port),
            "COMMS_LOG_LEVEL": "WARNING",
        }
        plan_out = subprocess.run(
            [COMMS, "simulate", "--from", "2026-12-01", "--days", "60", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        plan = json.loads(plan_out.stdout)
        assert len(plan) == 18  # two vendors × nine messages
        env["COMMS_BROKER_URL"] = REDIS_URL
        workers = [
            subprocess.Popen(
                [COMMS, "worker", "--threads", "2"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        try:
            for at in ["2026-12-01T05:00:00+00:00", *sorted({p["at"] for p in plan})]:
                ticks = [
                    subprocess.Popen(
                        [COMMS, "tick", "--now", at],
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                    )
                    for _ in range(2)
                ]
                for t in ticks:
                    _out, err = t.communicate(timeout=120)
                    assert t.returncode == 0, err.decode()
                # The clock jumps days between passes; a real one does not. Let what the workers
                # hold finish first, or the next pass's sweep finds its lease (taken on the wall
                # clock) already past the simulated `now` and re-queues a row still being sent.
                _settle(pg_db, seconds=60)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                with Session(pg_db) as s:
                    rows = s.exec(select(Delivery)).all()
                if len(rows) == 18 and all(d.status == "sent" for d in rows):
                    break
                time.sleep(0.5)
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(timeout=30)
        with Session(pg_db) as s:
            rows = s.exec(select(Delivery)).all()
            names = {v.id: v.name for v in s.exec(select(Vendor)).all()}
        assert len(rows) == 18
        # (case ids may differ from the preview's: a scheduler that loses the race to open a
        # case has used a sequence number)
        assert sorted((names[d.vendor_id], d.step, d.recipient_kind) for d in rows) == sorted(
            (p["vendor"], p["step"], p["recipient_kind"]) for p in plan
        )
        assert len({d.case_id for d in rows}) == 2
        assert all(d.status == "sent" and d.attempts == 1 for d in rows), [
            (d.step, d.status, d.attempts, d.error) for d in rows
        ]
        emails = [p["to"] for p in plan if p["channel"] == "email"]
        assert len(smtp.messages) == len(emails) == 10
        assert sorted(r for m in smtp.messages for r in m.rcpt_tos) == sorted(emails)
        ids = [m.message["Message-ID"] for m in smtp.messages]
        assert len(set(ids)) == len(ids)
