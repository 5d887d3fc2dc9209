"""The measurements processes make themselves (Prometheus histograms), for `/metrics`.

Counts that live in the database (deliveries, the backlog, cases, inbound mail, call tasks)
are read from it when `/metrics` is scraped (`comms.app.metrics`), so they are the same
whichever process answers. Timings are observed where they happen; with several processes
(workers, web servers) set `PROMETHEUS_MULTIPROC_DIR` to one writable folder for all of them
(prometheus-client's multiprocess mode) and `/metrics` adds up every process's files.
"""

from __future__ import annotations

from prometheus_client import Histogram

EXTRACTION_SECONDS = Histogram(
    "comms_extraction_seconds",
    "Time to read one attached document as an ACORD 25 (child process included).",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80),
    registry=None,
)
WEBHOOK_SECONDS = Histogram(
    "comms_webhook_seconds",
    "Time to answer one Twilio webhook.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=None,
)
HISTOGRAMS = (EXTRACTION_SECONDS, WEBHOOK_SECONDS)
