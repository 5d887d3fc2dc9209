"""The pieces of bench/inbound_pipeline.py: the vendors and their replies, batched and
one-per-message fetches (optionally through a proxy that adds a round-trip time), each stage
of the pipeline on its own, and the whole pipeline (the real listener and worker threads)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PDF = ROOT / "tests" / "samples" / "acord25" / "acord_25_2016_03_sample.pdf"
WHEN = datetime(2020, 6, 1, 15, 0, tzinfo=UTC)  # the sample's GL runs 2020-01-17..2021-01-17
INSURED = "Lisa Gomez LLC"  # the insured printed on the sample


# --- the world and the mail --------------------------------------------------------------


def build_world(engine: Any, count: int) -> None:
    """``count`` vendors, each with its own agent, an old certificate expiring in June 2020
    and so an open `expiring` case."""
    from sqlmodel import Session

    from comms.models import Agent, Certificate, Policy, Vendor
    from comms.profiles import ProfileSpec, save_profile
    from workflows.lifecycle import reevaluate_vendor

    spec = ProfileSpec.model_validate(
        {
            "name": "bench-gl",
            "coverages": {"general_liability": {"limits": {"each_occurrence": 300000}}},
        }
    )
    with Session(engine, expire_on_commit=False) as s:
        profile = save_profile(s, spec)
        for i in range(count):
            agent = Agent(name=f"Agent {i}", agency=f"Agency {i}", email=agent_email(i))
            s.add(agent)
            s.flush()
            vendor = Vendor(
                name=INSURED,
                email=f"office{i}@vendor{i}.example",
                vendor_code=f"B{i:05d}",
                profile_id=profile.id,
                agent_id=agent.id,
            )
            s.add(vendor)
            s.flush()
            old = Certificate(vendor_id=vendor.id or 0, source="roster", received_at=WHEN)
            s.add(old)
            s.flush()
            s.add(
                Policy(
                    certificate_id=old.id or 0,
                    vendor_id=vendor.id or 0,
                    coverage="general_liability",
                    policy_number=f"GL-OLD-{i}",
                    effective_date=date(2019, 6, 20),
                    expiration_date=date(2020, 6, 20),
                    limits={"each_occurrence": 1000000, "general_aggregate": 2000000},
                    created_at=WHEN,
                    updated_at=WHEN,
                )
            )
            s.commit()
            reevaluate_vendor(s, vendor.id or 0, now=WHEN, reason="bench setup")
            s.commit()


def agent_email(i: int) -> str:
    return f"agent{i}@agency{i}.example"


def reply(i: int, pdf: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Agent {i} <{agent_email(i)}>"
    msg["To"] = "coi@example.com"
    msg["Subject"] = f"RE: Certificate of insurance renewal: {INSURED}"
    msg["Date"] = format_datetime(WHEN)
    msg["Message-ID"] = f"<bench-{i}@agency{i}.example>"
    msg.set_content(f"Here is the renewed certificate.\n\nAgent {i}\nAgency {i}\n")
    unique = pdf + f"% bench {i}\n".encode()  # same page, its own sha256
    msg.add_attachment(unique, maintype="application", subtype="pdf", filename="COI.pdf")
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# --- fetch ---------------------------------------------------------------------------------


def fetch_batched(client: Any, uids: Sequence[int], batch_size: int) -> dict[int, bytes]:
    from inbound.imap.sync import fetch_bodies, fetch_sizes, plan_batches

    out: dict[int, bytes] = {}
    for batch in plan_batches(
        uids, fetch_sizes(client, uids), batch_size=batch_size, batch_bytes=60 * 1024 * 1024
    ):
        out.update(fetch_bodies(client, batch))
    return out


def fetch_single(client: Any, uids: Sequence[int]) -> dict[int, bytes]:
    """The baseline: one UID FETCH per message."""
    out: dict[int, bytes] = {}
    for uid in uids:
        for got, data in client.fetch([uid], ["BODY.PEEK[]"]).items():
            out[int(got)] = bytes(data[b"BODY[]"])
    return out


def compare_fetch(
    server: Any, user: str, uids: Sequence[int], batch_size: int, latency: float, rounds: int = 2
) -> dict[str, float]:
    """Batched against one-per-message, alternating, on the same connection."""
    from tests.support.tcp_proxy import TcpProxy

    proxy = TcpProxy(server.host, server.port, latency=latency).start() if latency else None
    try:
        from imapclient import IMAPClient

        from inbound.imap.connection import quiet_imaplib
        from tests.support.dovecot import PASSWORD

        client = IMAPClient(server.host, port=proxy.port if proxy else server.port, ssl=False)
        quiet_imaplib(client)  # as the listener's connections are
        client.login(user, PASSWORD)
        client.select_folder("INBOX", readonly=True)
        noops = []
        for _ in range(21):  # the round trip actually seen (the proxy adds its own delays)
            t0 = time.perf_counter()
            client.noop()
            noops.append(time.perf_counter() - t0)
        batched = single = 0.0
        for _ in range(rounds):
            t0 = time.perf_counter()
            got = fetch_batched(client, uids, batch_size)
            batched += time.perf_counter() - t0
            assert len(got) == len(uids)
            t0 = time.perf_counter()
            got = fetch_single(client, uids)
            single += time.perf_counter() - t0
            assert len(got) == len(uids)
        client.logout()
    finally:
        if proxy:
            proxy.close()
    n = len(uids) * rounds
    return {
        "rtt_ms": round(2 * latency * 1000, 1),
        "noop_ms_median": round(sorted(noops)[len(noops) // 2] * 1000, 2),
        "messages": len(uids),
        "batched_per_s": round(n / batched, 1),
        "single_per_s": round(n / single, 1),
        "ratio": round(single / batched, 2),
    }


# --- stages alone --------------------------------------------------------------------------


def timed_pool(
    items: Sequence[Any], fn: Callable[[Any], Any], workers: int
) -> tuple[float, list[Any]]:
    t0 = time.perf_counter()
    if workers == 1:
        results = [fn(item) for item in items]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(fn, items))
    return time.perf_counter() - t0, results


def stage_store(
    engine: Any, raws: dict[int, bytes], mailbox: str, uidvalidity: int, batch_size: int
) -> tuple[float, dict[int, int]]:
    from sqlmodel import Session

    from inbound.store import store_raw

    ids: dict[int, int] = {}
    uids = sorted(raws)
    t0 = time.perf_counter()
    for start in range(0, len(uids), batch_size):
        with Session(engine, expire_on_commit=False) as s:
            for uid in uids[start : start + batch_size]:
                row, _ = store_raw(
                    s,
                    raws[uid],
                    source="imap",
                    now=WHEN,
                    mailbox=mailbox,
                    uidvalidity=uidvalidity,
                    uid=uid,
                )
                ids[uid] = row.id or 0
    return time.perf_counter() - t0, ids


def stage_understand(engine: Any, settings: Any, raw: bytes) -> tuple[Any, Any, Any, str]:
    """Parse, classify, correlate, the reply's own text (the pipeline's steps 1-4)."""
    from sqlmodel import Session

    from inbound.classify import classify
    from inbound.correlate import correlate
    from inbound.parse import parse_mail
    from inbound.replytext import new_text

    parsed = parse_mail(raw)
    kind = classify(parsed.msg, parsed.text)
    with Session(engine) as s:
        match = correlate(s, parsed.msg, settings)
    return parsed, kind, match, new_text(parsed.text)


def stage_extract(settings: Any, parsed: Any) -> Any:
    from inbound.documents import read_documents

    return read_documents(
        parsed.msg,
        root=settings.documents_dir,
        max_part=settings.max_attachment_bytes,
        max_total=settings.max_message_bytes,
    )


def stage_records(engine: Any, settings: Any, item: tuple[int, Any, Any, Any, str]) -> int:
    """Certificates and policies, the verdict, the case, the acknowledgment (step 6)."""
    from sqlmodel import Session

    from inbound.handlers import _apply
    from inbound.models import InboundEmail
    from inbound.outcome import IngestResult

    inbound_id, parsed, match, docs, text = item
    acks: list[int] = []
    with Session(engine, expire_on_commit=False) as s:
        row = s.get(InboundEmail, inbound_id)
        assert row is not None
        result = IngestResult(inbound_id=inbound_id, reply_text=text)
        _apply(s, row, result, match, parsed, docs, now=WHEN, settings=settings, acks=acks)
        s.commit()
    return len(result.certificates)


# --- the whole pipeline --------------------------------------------------------------------


def whole_pipeline(engine: Any, settings: Any, count: int, workers: int) -> dict[str, Any]:
    from sqlmodel import Session, col, func, select

    from comms.db import make_engine
    from comms.models import Certificate, Delivery
    from inbound.imap.listener import Listener
    from inbound.models import InboundEmail
    from inbound.pipeline import process_message

    todo: queue.Queue[int | None] = queue.Queue()
    started = time.perf_counter()

    def clock() -> datetime:
        return WHEN + (datetime.now(UTC) - wall)

    def work() -> None:
        while (item := todo.get()) is not None:
            process_message(
                item, now=clock(), engine=engine, settings=settings, enqueue=lambda *a, **k: None
            )

    wall = datetime.now(UTC)
    stop = threading.Event()
    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    # the listener's own pooled engine, as `inbound.imap.listener.run` makes one
    listener_db = make_engine(engine.url.render_as_string(hide_password=False), pooled=True)
    listener = Listener(
        settings=settings, engine=listener_db, stop=stop, enqueue=todo.put, clock=clock
    )
    threads.append(threading.Thread(target=listener.run, daemon=True))
    for t in threads:
        t.start()

    def moved() -> int:
        with Session(engine) as s:
            return int(
                s.exec(
                    select(func.count())
                    .select_from(InboundEmail)
                    .where(col(InboundEmail.disposed_at).is_not(None))
                ).one()
            )

    while moved() < count:
        time.sleep(0.5)
    elapsed = time.perf_counter() - started
    stop.set()
    for _ in range(workers):
        todo.put(None)
    for t in threads:
        t.join(timeout=60)
    listener_db.dispose()
    with Session(engine) as s:
        statuses = dict(
            s.exec(
                select(InboundEmail.status, func.count()).group_by(col(InboundEmail.status))
            ).all()
        )
        certificates = int(
            s.exec(
                select(func.count())
                .select_from(Certificate)
                .where(col(Certificate.source) != "roster")
            ).one()
        )
        acks = int(
            s.exec(
                select(func.count())
                .select_from(Delivery)
                .where(col(Delivery.idempotency_key).like("ack:inbound:%"))
            ).one()
        )
    return {
        "seconds": elapsed,
        "statuses": statuses,
        "certificates": certificates,
        "acknowledgments": acks,
        "fetched": listener.fetched,
        "moved": listener.moved,
    }
