from email import message_from_string

from sqlmodel import Session

from comms.models import Case, Vendor
from comms.settings import get_settings
from comms.tokens import make_token, reply_address
from inbound.correlate import correlate


def _case(session: Session) -> tuple[Vendor, Case]:
    vendor = Vendor(name="Acme Roofing", email="ops@acme.example")
    session.add(vendor)
    session.flush()
    assert vendor.id is not None
    case = Case(vendor_id=vendor.id, trigger="expiring", workflow="standard")
    session.add(case)
    session.flush()
    return vendor, case


def test_token_matches_and_forged_token_falls_back(session: Session) -> None:
    settings = get_settings()
    vendor, case = _case(session)
    assert case.id is not None
    token = make_token(case.id, 1, settings.signing_key())
    address = reply_address(token, local_part=settings.reply_local_part, domain="x.example")
    msg = message_from_string(f"From: nobody@else.example\nTo: {address}\n\nhi\n")
    match = correlate(session, msg, settings)
    assert match is not None and (match.method, match.case_id) == ("token", case.id)

    forged = reply_address(
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        local_part=settings.reply_local_part,
        domain="x.example",
    )
    msg = message_from_string(f"From: ops@acme.example\nTo: {forged}\n\nhi\n")
    match = correlate(session, msg, settings)
    assert match is not None
    assert (match.method, match.forged_token, match.vendor_id) == ("sender", True, vendor.id)


def test_unknown_sender_matches_nothing(session: Session) -> None:
    _case(session)
    msg = message_from_string("From: who@nowhere.example\nTo: coi@x.example\n\nhi\n")
    assert correlate(session, msg, get_settings()) is None
