from email import message_from_bytes

from inbound.classify import classify

BOUNCE = b"""From: MAILER-DAEMON@mx.example.net
To: coi@example.org
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Your message could not be delivered.
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; gone@agency.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown
--B--
"""


def _msg(headers: str, body: str = "hello") -> bytes:
    return (headers + "\n\n" + body + "\n").encode()


def test_dsn_is_a_permanent_bounce() -> None:
    c = classify(message_from_bytes(BOUNCE))
    assert c.kind == "bounce"
    assert "gone@agency.example" in c.permanent_failures


def test_rfc3834_auto_submitted() -> None:
    raw = _msg("From: a@b.example\nSubject: Re: COI\nAuto-Submitted: auto-replied")
    assert classify(message_from_bytes(raw)).kind == "auto_reply"


def test_auto_submitted_no_is_a_reply() -> None:
    raw = _msg("From: a@b.example\nSubject: Re: COI\nAuto-Submitted: no")
    assert classify(message_from_bytes(raw)).kind == "reply"


def test_out_of_office_subject_without_headers() -> None:
    raw = _msg("From: a@b.example\nSubject: Out of Office: back Monday")
    c = classify(message_from_bytes(raw))
    assert (c.kind, c.reason) == ("auto_reply", "out-of-office subject")


def test_plain_reply() -> None:
    raw = _msg("From: a@b.example\nSubject: Re: certificate", "attached")
    assert classify(message_from_bytes(raw)).kind == "reply"


def test_out_of_office_text_with_a_reply_subject() -> None:
    raw = _msg(
        "From: a@b.example\nSubject: Re: Certificate of insurance renewal",
        "Thank you for your email. I am currently out of the office until June 8.",
    )
    c = classify(message_from_bytes(raw), "I am currently out of the office until June 8.")
    assert (c.kind, c.reason) == ("auto_reply", "out-of-office text")


def test_encoded_out_of_office_subject() -> None:
    raw = _msg("From: a@b.example\nSubject: =?UTF-8?Q?Automatic_reply:_COI?=")
    assert classify(message_from_bytes(raw)).kind == "auto_reply"


def test_human_back_from_vacation_with_the_certificate_is_a_reply() -> None:
    raw = (
        b"From: a@b.example\nSubject: Re: COI\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\n'
        b"I was on vacation, sorry. I am out of the office again tomorrow; cert attached.\n"
        b"--b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=c.pdf\n\n"
        b"%PDF-1.4\n--b--\n"
    )
    text = "I was on vacation, sorry. I am out of the office again tomorrow; cert attached."
    assert classify(message_from_bytes(raw), text).kind == "reply"
