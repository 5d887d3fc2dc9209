"""Every package's dramatiq actors, so that a worker (`comms worker`, the one inside `comms
run`) can run any message on the queue."""

from __future__ import annotations

import dramatiq

from comms import actors as delivery
from inbound import jobs as inbound_jobs

ACTORS: tuple[dramatiq.Actor, ...] = (
    delivery.deliver,
    delivery.deliver_many,
    inbound_jobs.process_inbound,
)
