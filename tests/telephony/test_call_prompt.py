"""A reminder call opens with the prompt its workflow step names (the step's `template`), and
a row made otherwise, naming no prompt, with the standard one."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.outbox import NewDelivery, create_delivery
from comms.settings import get_settings
from telephony import reminder_call
from tests.telephony.conftest import VENDOR_PHONE, make_world


@pytest.mark.parametrize(
    ("template", "opening"),
    [
        ("renewal_ack", "We will watch for the renewed certificate"),
        ("reminder_intro", "This is an automated call from"),
        ("renewal_reminder", "This is an automated call from"),  # an SMS name: no prompt
    ],
)
def test_the_call_opens_with_its_steps_prompt(
    use_db: Engine, now: datetime, template: str, opening: str
) -> None:
    with Session(use_db) as s:
        world = make_world(s, now)
        row, _ = create_delivery(
            s,
            NewDelivery(
                idempotency_key=f"call-{template}",
                channel="call",
                recipient=VENDOR_PHONE,
                template=template,
                vendor_id=world.vendor.id,
                case_id=world.case.id,
                step="reminder_call",
            ),
            now=now,
        )
        s.commit()
        twiml = reminder_call.answer(s, row.id or 0, now=now, settings=get_settings())
    assert opening in twiml
    assert "automated call from" not in twiml or template != "renewal_ack"
