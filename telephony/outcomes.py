"""An outcome of a call, fed back to the workflow of the delivery's case."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session

from comms.models import Delivery
from workflows.lifecycle import record_outcome

log = logging.getLogger(__name__)


def delivery_outcome(
    session: Session, delivery: Delivery, outcome: str, now: datetime, data: dict[str, Any]
) -> None:
    """Record `outcome` on the delivery's case (nothing when it has none; a case that cannot
    take it is logged, not raised: the call's own rows are kept)."""
    if delivery.case_id is None:
        return
    payload = {**data, "delivery_id": delivery.id}
    if delivery.step:
        payload["step"] = delivery.step
    try:
        record_outcome(session, delivery.case_id, outcome, now=now, data=payload)
    except (LookupError, ValueError) as exc:
        log.warning("outcome %s not applied to case %s: %s", outcome, delivery.case_id, exc)
