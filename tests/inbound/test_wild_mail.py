"""Real bounces and automatic replies (tests/inbound/mail/wild, from sisimai's collection)."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import compat32
from pathlib import Path

import pytest

from inbound.classify import Classification, classify

WILD = Path(__file__).parent / "mail" / "wild"

BOUNCES = {
    "lhost-amazonses-01.eml": "shironeko@example.co.jp",
    "lhost-courier-01.eml": "kijitora@example.co.jp",
    "lhost-exchange2007-01.eml": "mikeneko@example.co.jp",
    "lhost-exim-01.eml": "kijitora@example.ed.jp",
    "lhost-gmail-01.eml": "userunknown@example.jp",
    "lhost-googleworkspace-01.eml": "neko-nyaan-cat-meeting@google-groups.example.com",
    "lhost-office365-01.eml": "kijitora@example.com",  # prose only, and Auto-Submitted
    "lhost-outlook-01.eml": "kijitora@example.jp",
    "lhost-postfix-01.eml": "kijitora@example.org",
    "lhost-postfix-70.eml": "kijitora@google.example.com",
    "lhost-qmail-01.eml": "kijitora@example.ne.jp",
    "lhost-sendgrid-01.eml": "kijitora@example.jp",
    "lhost-sendmail-01.eml": "userunknown@bouncehammer.jp",
    "lhost-yahoo-01.eml": "kijitora@example.org",  # prose only, no report part
}
AUTO_REPLIES = [f"rfc3834-0{i}.eml" for i in range(1, 7)]


def _classify(name: str) -> Classification:
    return classify(message_from_bytes((WILD / name).read_bytes(), policy=compat32))


@pytest.mark.parametrize("name", sorted(BOUNCES))
def test_real_bounce_names_the_failed_address(name: str) -> None:
    c = _classify(name)
    assert c.kind == "bounce"
    assert c.permanent_failures == {BOUNCES[name]}


@pytest.mark.parametrize("name", AUTO_REPLIES)
def test_real_auto_reply_is_not_an_answer(name: str) -> None:
    assert _classify(name).kind == "auto_reply"


def test_forwarded_message_is_not_a_bounce() -> None:
    assert _classify("is-not-bounce-02.eml").kind == "reply"


def test_every_sample_is_covered() -> None:
    names = {p.name for p in WILD.glob("*.eml")}
    assert names == set(BOUNCES) | set(AUTO_REPLIES) | {"is-not-bounce-02.eml"}
