"""The IVR line's hot path: our signature check agrees with twilio's `RequestValidator`, the
caller query finds the vendor and its version key on both databases, and a cached status is
answered only while the data it was built from is unchanged."""

from __future__ import annotations

import random
import string
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from comms.models import Vendor
from comms.settings import Settings
from telephony.ivr import InboundLine
from telephony.models import InboundMessage
from telephony.phone import normalize
from telephony.signatures import Verifier, url_variants
from telephony.status_cache import CALLER_QUERY, CallerLookup, StatusCache
from tests.support import factory
from tests.support.twilio_server import TwilioTestServer
from tests.telephony.conftest import PUBLIC_URL, VENDOR_PHONE, AppServer, Clock, make_world

TOKEN = "line-test-token-5d8e1c"
URLS = [
    "https://coi.example.test/twilio/voice/inbound",
    "https://coi.example.test:443/twilio/voice/inbound",
    "https://coi.example.test:8443/twilio/voice/ivr/menu?vendor=12",
    "http://10.0.0.5/twilio/voice/ivr/code?attempt=2&x=%20y",
    "http://10.0.0.5:80/twilio/sms/status",
]


def _params(rng: random.Random) -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits + " +&=%éü☎"
    return {
        rng.choice(["From", "To", "CallSid", "Digits", "Body", "é"]) + str(i): "".join(
            rng.choice(alphabet) for _ in range(rng.randint(0, 12))
        )
        for i in range(rng.randint(0, 8))
    }


def test_verifier_agrees_with_request_validator() -> None:
    ours, twilios = Verifier(TOKEN, "unused"), RequestValidator(TOKEN)
    rng = random.Random(7)
    for _ in range(300):
        url, params = rng.choice(URLS), _params(rng)
        good = twilios.compute_signature(url, params)
        assert ours.signature(url, params).decode() == good
        assert ours.valid(url, params, good)
        assert twilios.validate(url, params, good)
        # Twilio may sign the URL with or without the default port: both are accepted
        for variant in url_variants(url):
            assert ours.valid(url, params, twilios.compute_signature(variant, params))
        forged = RequestValidator("another-token-77").compute_signature(url, params)
        assert not ours.valid(url, params, forged)
        assert not twilios.validate(url, params, forged)
        changed = {**params, "Digits": "9" if params.get("Digits") != "9" else "1"}
        assert not ours.valid(url, changed, good)
        assert ours.valid(url, params, good) == twilios.validate(url, params, good)
    for bad in ("", "Zm9yZ2Vk", "not base64 ☎", good + "x"):
        assert not ours.valid(URLS[0], params, bad)
        assert ours.valid(URLS[0], params, bad) == twilios.validate(URLS[0], params, bad)


def test_url_variants_follow_request_validator() -> None:
    assert url_variants("https://a.test/x") == ("https://a.test/x", "https://a.test:443/x")
    assert url_variants("https://a.test:443/x?q=1") == (
        "https://a.test/x?q=1",
        "https://a.test:443/x?q=1",
    )
    assert url_variants("http://a.test:8080/x") == ("http://a.test/x", "http://a.test:8080/x")


def test_normalize_is_memoized_and_unchanged() -> None:
    assert normalize("(212) 555-0143") == normalize("(212) 555-0143") == "+12125550143"
    assert normalize("+44 20 7946 0958", "US") == "+442079460958"
    assert normalize("020 7946 0958", "GB") == "+442079460958"
    assert normalize("555") is None and normalize("not a number") is None
    assert normalize("") is None and normalize(None) is None


def test_caller_query_walks_the_vendors_certificates_only(sqlite_db: Engine) -> None:
    """Without the status in the subqueries' WHERE, SQLite cannot choose the status index
    (every accepted certificate of every vendor) over the vendor_id index."""
    sql = str(CALLER_QUERY.compile(dialect=sqlite_db.dialect))
    with sqlite_db.connect() as conn:
        args = ["accepted", "accepted", VENDOR_PHONE, 1, 0]
        plan = " ".join(
            str(r) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(args))
        )
    assert "ix_certificate_status" not in plan
    assert "ix_certificate_vendor_id" in plan and "ix_vendor_phone" in plan


class _Log:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)


def test_cached_status_follows_the_data(use_db: Engine, settings: Settings, clock: Clock) -> None:
    with Session(use_db, expire_on_commit=False) as s:
        world = make_world(s, clock.now)
    vendor = world.vendor
    log = _Log()
    line = InboundLine(settings, use_db, cache=StatusCache(), calllog=log)
    params = {"CallSid": "CA" + "7" * 32, "From": "(212) 555-0143", "To": "+12125550100"}

    row = line.lookup(VENDOR_PHONE, "2026-11-02")
    assert row is not None and row.vendor_id == vendor.id
    assert line.lookup("+19995550000", "2026-11-02") is None

    assert line.cached(params, clock.now) is None  # nothing built yet
    first = line.answer(params, clock.now)
    assert "compliant until November 20, 2026" in first
    assert line.cached(params, clock.now) == first  # answered from the cache
    assert [r["vendor_id"] for r in log.rows] == [vendor.id, vendor.id]
    assert {r["from_number"] for r in log.rows} == {VENDOR_PHONE}
    assert {r["action"] for r in log.rows} == {"matched"}

    # a newly accepted certificate changes the key: rebuilt, and the new date is spoken
    with Session(use_db, expire_on_commit=False) as s:
        factory.cover(s, vendor, received_at=clock.now, expires=date(2027, 11, 20), number="GL-2")
        s.commit()
    assert line.cached(params, clock.now) is None
    assert "compliant until November 20, 2027" in line.answer(params, clock.now)
    # the organization's next day is another key too (the status is spoken in dates)
    assert line.cached(params, clock.now + timedelta(days=1)) is None

    # the vendor deactivated: no longer matched, asked for the vendor ID
    with Session(use_db, expire_on_commit=False) as s:
        row_vendor = s.get(Vendor, vendor.id)
        assert row_vendor is not None
        row_vendor.active = False
        s.add(row_vendor)
        s.commit()
    assert line.cached(params, clock.now) is None
    assert 'action="/twilio/voice/ivr/code?attempt=1"' in line.answer(params, clock.now)
    assert log.rows[-1]["vendor_id"] is None and log.rows[-1]["action"] == "ask_code"
    assert len(log.rows) == 4  # each answered call logged once (a cache miss is not an answer)


def test_lookup_binds_only_the_number(use_db: Engine) -> None:
    bound = CallerLookup(use_db)._bind("+12125550143")
    values = list(bound.values() if isinstance(bound, dict) else bound)
    assert values.count("+12125550143") == 1 and "accepted" in values


@pytest.mark.parametrize("phone", ["+12125550143", "+442079460958"])
def test_lookup_finds_by_exact_e164(use_db: Engine, clock: Clock, phone: str) -> None:
    with Session(use_db, expire_on_commit=False) as s:
        world = make_world(s, clock.now, phone=phone)
    lookup = CallerLookup(use_db)
    row = lookup(phone, "2026-11-02")
    assert row is not None and row.vendor_id == world.vendor.id
    _updated, accepted, newest, profile_updated, _verdict_updated, today = row.key
    assert accepted == 1 and newest is not None and profile_updated is not None
    assert today == "2026-11-02"
    assert lookup(phone.replace("+", "+1"), "2026-11-02") is None


def test_second_call_answered_from_cache_over_http(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    params = {"CallSid": "CA" + "8" * 32, "From": "+1 212-555-0143", "To": "+12125550100"}
    url = PUBLIC_URL + "/twilio/voice/inbound"
    first, second = (twilio.post(url, app.url, params) for _ in range(2))
    assert first.status_code == second.status_code == 200
    assert first.headers["content-type"].startswith("application/xml")
    assert second.text == first.text and "compliant until November 20, 2026" in first.text
    assert twilio.post(url, app.url, params, signature=None).status_code == 403
    with Session(use_db) as s:
        rows = s.exec(select(InboundMessage)).all()
    assert [(r.vendor_id, r.from_number, r.action) for r in rows] == [
        (world.vendor.id, VENDOR_PHONE, "matched")
    ] * 2


def test_status_cache_expiry_key_and_size(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("telephony.status_cache.time.monotonic", lambda: clock[0])
    cache = StatusCache(size=2, ttl=60)
    cache.put(1, ("k1",), "<one/>")
    assert cache.get(1, ("k1",)) == "<one/>"
    assert cache.get(1, ("k2",)) is None  # the data changed
    clock[0] += 44.9  # every entry lives at least 75% of the ttl...
    assert cache.get(1, ("k1",)) == "<one/>"
    clock[0] += 15.2  # ...and never more than the ttl
    assert cache.get(1, ("k1",)) is None
    for vendor in (1, 2, 3):
        cache.put(vendor, ("k",), f"<v{vendor}/>")
    assert cache.get(1, ("k",)) is None  # the least recently used went first
    assert cache.get(3, ("k",)) == "<v3/>"
