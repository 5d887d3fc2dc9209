from datetime import datetime
from email import message_from_string

from sqlmodel import Session

from comms.models import Case, Vendor
from comms.settings import get_settings
from comms.tokens import ReplyToken, make_token, reply_address, verify_token
from inbound.correlate import correlate
from tests.support import factory


def _case(session: Session, now: datetime) -> tuple[Vendor, Case]:
    vendor = factory.vendor(
        session, name="Acme Roofing", contact_name=None, email="ops@acme.example"
    )
    return vendor, factory.case(session, vendor, now=now, state="active")


def test_token_matches_and_forged_token_falls_back(session: Session, now: datetime) -> None:
    settings = get_settings()
    vendor, case = _case(session, now)
    assert case.id is not None
    token = make_token(case.id, 1, settings.signing_key())
    address = reply_address(token, local_part=settings.reply_local_part, domain="x.example")
    msg = message_from_string(f"From: nobody@else.example\nTo: {address}\n\nhi\n")
    match = correlate(session, msg, settings)
    assert match is not None and (match.method, match.case_id) == ("token", case.id)

    forged = reply_address(
        token[:-2] + ("aa" if not token.endswith("aa") else "bb"),
        local_part=settings.reply_local_part,
        domain="x.example",
    )
    msg = message_from_string(f"From: ops@acme.example\nTo: {forged}\n\nhi\n")
    match = correlate(session, msg, settings)
    assert match is not None
    assert (match.method, match.forged_token, match.vendor_id) == ("sender", True, vendor.id)


def test_unknown_sender_matches_nothing(session: Session, now: datetime) -> None:
    _case(session, now)
    msg = message_from_string("From: who@nowhere.example\nTo: coi@x.example\n\nhi\n")
    assert correlate(session, msg, get_settings()) is None


def test_every_altered_character_of_a_token_is_refused() -> None:
    key = b"k" * 32
    token = make_token(41, 7, key)
    assert verify_token(token, key) == ReplyToken(case_id=41, delivery_id=7)
    assert verify_token(token.upper(), key) is not None  # mail systems may fold case
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    for i, original in enumerate(token):
        for c in alphabet:
            if c != original:
                altered = token[:i] + c + token[i + 1 :]
                assert verify_token(altered, key) is None, (i, c)
