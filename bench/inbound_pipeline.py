"""Benchmark: agent replies carrying a certificate, from Dovecot through the whole pipeline.

    .venv/bin/python bench/inbound_pipeline.py                 # 1,000 replies
    .venv/bin/python bench/inbound_pipeline.py --quick         # 60 replies: a fast check
    .venv/bin/python bench/inbound_pipeline.py --count 300 --workers 2

Each reply comes from its own vendor's agent (so it correlates by sender) and carries the
one-page text-layer ACORD 25 sample (`acord_25_2016_03_sample.pdf`, a comment appended so
that every PDF has its own sha256). A throwaway Dovecot (tests/support/dovecot.py) holds
them; the database is SQLite in a temp dir.

Measured in the same run:
- the whole pipeline: the real listener (`inbound.imap.listener.Listener`) fetching, storing
  and moving, and `--workers` threads running `inbound.pipeline.process_message` on what it
  enqueues; timed from start until every message is processed and moved to Processed;
- each stage alone, with the concurrency it has in the pipeline (the listener's stages on one
  thread, the worker's on `--workers` threads), on a copy of the same database:
  fetch (batched BODY.PEEK[]), store (`store_raw`), parse + classify + correlate + reply
  text, extract (attachments stored, the sandboxed ACORD 25 extractor), records + verdict +
  acknowledgment (`inbound.handlers._apply`, the pipeline's own step);
- batched fetch against one UID FETCH per message (the baseline), alternating on one
  connection, on loopback and through a proxy that delays each direction by half of
  `--rtt-ms` (tests/support/tcp_proxy.py; the NOOP time printed is the round trip actually
  seen): on loopback a 120 kB message costs more in bytes than in round trips, so batching
  gains little there; a real network's round trip is what batching saves.

Targets: the whole pipeline reaches at least 60% of its slowest stage; batched fetch is at
least 5x as fast as one FETCH per message. Figures go to bench/results/inbound_pipeline.json
(`--quick` writes them only with an explicit `--out`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inbound_stages import (  # noqa: E402  (bench/ is the script's folder)
    PDF,
    build_world,
    compare_fetch,
    fetch_batched,
    reply,
    stage_extract,
    stage_records,
    stage_store,
    stage_understand,
    timed_pool,
    whole_pipeline,
)


def run(
    count: int,
    workers: int,
    stage_count: int,
    batch_size: int,
    rtts_ms: list[float],
    single_count: int,
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="inbound-bench-"))
    os.environ.update(
        {
            "COMMS_DATA_DIR": str(tmp / "var"),
            "COMMS_CONFIG": str(ROOT / "tests" / "support" / "empty.toml"),
            "COMMS_SECRET_KEY": "bench-signing-key-0123456789",
            "COMMS_LOG_LEVEL": "WARNING",
        }
    )
    from comms.app.registry import metadata
    from comms.db import create_all, make_engine
    from comms.settings import load_settings
    from tests.support.dovecot import PASSWORD, Dovecot

    server = Dovecot().start()
    try:
        user = server.add_user()
        settings = load_settings(
            imap_host=server.host,
            imap_port=server.port,
            imap_ssl=False,
            imap_username=user,
            imap_password=PASSWORD,
            imap_batch_size=batch_size,
            imap_poll_seconds=1.0,
        )
        # the world, twice: one database for the whole pipeline, a copy for the stages
        t0 = time.perf_counter()
        main_path, stage_path = tmp / "pipeline.db", tmp / "stages.db"
        main_db = make_engine(f"sqlite:///{main_path}")
        create_all(main_db, metadata)
        build_world(main_db, count)
        main_db.dispose()  # the last connection closed: SQLite folds the WAL into the file
        shutil.copyfile(main_path, stage_path)
        for suffix in ("-wal", "-shm"):
            if Path(f"{main_path}{suffix}").exists():
                shutil.copyfile(f"{main_path}{suffix}", f"{stage_path}{suffix}")
        main_db = make_engine(f"sqlite:///{main_path}")
        stage_db = make_engine(f"sqlite:///{stage_path}")
        pdf = PDF.read_bytes()
        raws = [reply(i, pdf) for i in range(count)]
        uids = server.append_many(user, raws)
        setup_s = time.perf_counter() - t0
        print(
            f"setup: {count} vendors, {count} messages of ~{len(raws[0]) // 1024} kB "
            f"appended ({setup_s:.1f} s)",
            flush=True,
        )

        # fetch: batched (the stage) against one FETCH per message (the baseline)
        loopback = compare_fetch(server, user, uids, batch_size, 0.0)
        sample = uids[:single_count]
        remote = [
            compare_fetch(server, user, sample, batch_size, rtt / 2000, rounds=1) for rtt in rtts_ms
        ]
        for f in [loopback, *remote]:
            print(
                f"fetch, rtt {f['rtt_ms']} ms (NOOP {f['noop_ms_median']} ms): batched "
                f"{f['batched_per_s']}/s, one per message {f['single_per_s']}/s, "
                f"ratio {f['ratio']}x",
                flush=True,
            )

        # store (the listener's thread), on the copy
        from imapclient import IMAPClient

        from inbound.imap.connection import quiet_imaplib

        client = IMAPClient(server.host, port=server.port, ssl=False)
        quiet_imaplib(client)
        client.login(user, PASSWORD)
        uidvalidity = int(client.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"])
        fetched = fetch_batched(client, uids, batch_size)
        client.logout()
        mailbox = f"{user}@{server.host}/INBOX"
        # the listener's pooled engine; its open connection stays for the worker stages, as
        # the listener's does during the whole pipeline
        store_db = make_engine(f"sqlite:///{stage_path}", pooled=True)
        store_s, row_ids = stage_store(store_db, fetched, mailbox, uidvalidity, batch_size)
        print(f"store: {count / store_s:.1f}/s", flush=True)

        # the worker's stages, on a sample, with the pipeline's worker count
        picked = uids[:stage_count]
        understand_s, understood = timed_pool(
            [fetched[u] for u in picked],
            lambda raw: stage_understand(stage_db, settings, raw),
            workers,
        )
        assert all(u[2] is not None for u in understood), "every reply correlates"
        print(f"parse+classify+correlate: {stage_count / understand_s:.1f}/s", flush=True)
        extract_s, documents = timed_pool(
            [u[0] for u in understood], lambda parsed: stage_extract(settings, parsed), workers
        )
        assert all(len(d.certificates) == 1 for d in documents)
        print(f"extract: {stage_count / extract_s:.1f}/s", flush=True)
        items = [
            (row_ids[u], understood[n][0], understood[n][2], documents[n], understood[n][3])
            for n, u in enumerate(picked)
        ]
        records_s, recorded = timed_pool(
            items, lambda item: stage_records(stage_db, settings, item), workers
        )
        assert sum(recorded) == stage_count
        print(f"records+verdict+ack: {stage_count / records_s:.1f}/s", flush=True)

        store_db.dispose()
        stage_db.dispose()

        # the whole pipeline, on the main database
        whole = whole_pipeline(main_db, settings, count, workers)
        print(f"whole pipeline: {count / whole['seconds']:.1f}/s", flush=True)
        assert server.count(user, "Processed") == count and server.count(user, "INBOX") == 0
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    stages = {
        "fetch": loopback["batched_per_s"],
        "store": count / store_s,
        "parse_classify_correlate": stage_count / understand_s,
        "extract": stage_count / extract_s,
        "records_verdict_ack": stage_count / records_s,
    }
    slowest = min(stages, key=lambda k: stages[k])
    pipeline_rate = count / whole["seconds"]
    ratio = pipeline_rate / stages[slowest]
    return {
        "count": count,
        "workers": workers,
        "stage_count": stage_count,
        "batch_size": batch_size,
        "message_bytes": len(raws[0]),
        "pipeline_per_s": round(pipeline_rate, 2),
        "pipeline_seconds": round(whole["seconds"], 2),
        "stages_per_s": {k: round(v, 2) for k, v in stages.items()},
        "slowest_stage": slowest,
        "ratio_pipeline_vs_slowest_stage": round(ratio, 3),
        "fetch_loopback": loopback,
        "fetch_with_rtt": remote,
        "pipeline_outcome": {k: v for k, v in whole.items() if k != "seconds"},
        "targets": {"pipeline_vs_slowest_min": 0.6, "batched_fetch_ratio_min": 5.0},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="replies (default 1000)")
    parser.add_argument("--quick", action="store_true", help="60 replies: a fast check")
    parser.add_argument("--workers", type=int, default=2, help="processing threads")
    parser.add_argument(
        "--stage-count",
        type=int,
        default=None,
        help="messages for the worker stages alone (default min(count, 250))",
    )
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument(
        "--rtt-ms",
        type=float,
        nargs="*",
        default=[2.0, 10.0],
        help="round-trip times to compare fetches over (default 2 10)",
    )
    parser.add_argument(
        "--single-count",
        type=int,
        default=200,
        help="messages fetched per round-trip setting (default 200)",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "inbound_pipeline.json"
    )
    args = parser.parse_args()
    count = 60 if args.quick else args.count
    stage_count = min(count, args.stage_count or 250)
    results = run(
        count,
        args.workers,
        stage_count,
        args.batch_size,
        list(args.rtt_ms),
        min(count, args.single_count),
    )
    print(json.dumps(results, indent=2))
    best_remote = max((f["ratio"] for f in results["fetch_with_rtt"]), default=0.0)
    print(
        f"pipeline {results['pipeline_per_s']}/s = {results['ratio_pipeline_vs_slowest_stage']}"
        f" of the slowest stage ({results['slowest_stage']}; target 0.6); batched fetch "
        f"{results['fetch_loopback']['ratio']}x on loopback, up to {best_remote}x over "
        f"{results['fetch_with_rtt'][-1]['rtt_ms'] if results['fetch_with_rtt'] else '-'} ms "
        "(target 5x)"
    )
    if not args.quick or args.out != parser.get_default("out"):
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
