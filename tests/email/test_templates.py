from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from jinja2.sandbox import SecurityError

from comms.email.samples import load_samples, sample_context
from comms.settings import load_settings
from comms.templating import (
    TemplateError,
    TemplateSecurityError,
    email_template_names,
    render_email,
    render_text,
)

REQUIRED = {
    "certificate_request",
    "renewal_request",
    "reminder",
    "deficiency_notice",
    "expired_notice",
    "receipt_acknowledgment",
}


def _ctx(scenario: str, kind: str = "vendor") -> dict:
    return sample_context(load_samples(), scenario, settings=load_settings(), recipient_kind=kind)


def test_all_required_templates_exist_and_render_every_sample() -> None:
    assert set(email_template_names()) >= REQUIRED
    samples = load_samples()
    for name in REQUIRED:
        for scenario in samples.templates[name]:
            out = render_email(name, _ctx(scenario))
            assert out.subject and "\n" not in out.subject
            assert "None" not in out.text and "None" not in out.html
            assert "<html" in out.html and "Regards," in out.text  # the shared layout


def test_deficiency_notice_lists_every_deficiency_in_plain_words() -> None:
    out = render_email("deficiency_notice", _ctx("deficient"))
    assert "General liability each-occurrence limit is $500,000; $1,000,000 is required" in out.text
    assert "Workers compensation coverage is not on the certificate" in out.text
    assert "$1,000,000 is required" in out.html


def test_renewal_request_to_agent_lists_requirements_and_expiration() -> None:
    out = render_email("renewal_request", _ctx("expiring", "agent"))
    assert out.text.startswith("Hello Pat Kim,")
    assert "November 20, 2026" in out.subject and "November 20, 2026" in out.text
    assert "Each-occurrence: at least $1,000,000" in out.text
    assert "Endorsements: CG 20 10, CG 20 37" in out.text
    assert "Waiver of subrogation" in out.text


def test_receipt_acknowledgment_says_what_was_accepted_and_what_is_missing() -> None:
    out = render_email("receipt_acknowledgment", _ctx("deficient"))
    accepted, missing = out.text.split("Still missing:")
    assert "General liability, policy GL-1002, through June 1, 2027" in accepted
    assert "Workers compensation coverage is not on the certificate" in missing
    ok = render_email("receipt_acknowledgment", _ctx("compliant"))
    assert "Nothing else is needed" in ok.text


def test_html_is_autoescaped_text_is_not() -> None:
    out = render_email("certificate_request", _ctx("markup_name"))
    assert "<script>" not in out.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Sons" in out.html
    assert "<script>alert(1)</script> & Sons" in out.text


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def test_sandbox_refuses_python_internals(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"sms/evil.txt": "hi\n{{ ''.__class__.__mro__ }}\n"})
    with pytest.raises(SecurityError) as info:
        render_text("sms/evil.txt", {}, folder=folder)
    assert isinstance(info.value, TemplateError)
    assert info.value.template == "sms/evil.txt" and info.value.line == 2


def test_email_parts_share_one_context_and_keep_the_sandbox(tmp_path: Path) -> None:
    """The three parts of an email render from one merged context: a template's `set` stays
    its own, the environment's globals are there, and the sandbox still names the line."""
    folder = _folder(
        tmp_path,
        {
            "email/x.subject.txt": "{% set who = 'changed' %}Hi {{ who }}",
            "email/x.txt": "{{ who }} {{ range(2) | list | length }}\n",
            "email/x.html": "<p>{{ who }}</p>\n",
            "evil/email/x.subject.txt": "Hi",
            "evil/email/x.txt": "ok\n",
            "evil/email/x.html": "<p>{{ who }}</p>\n{{ who.__class__.__mro__ }}\n",
        },
    )
    with pytest.raises(TemplateSecurityError) as info:
        render_email("x", {"who": "Dana"}, folder=folder / "evil")
    assert info.value.template == "email/x.html" and info.value.line == 2
    out = render_email("x", {"who": "Dana"}, folder=folder)
    assert out.subject == "Hi changed" and out.text == "Dana 2\n" and out.html == "<p>Dana</p>\n"


def test_strict_undefined_names_template_and_line(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        {
            "email/x.subject.txt": "Hello",
            "email/x.txt": "line one\n\n{{ vendor.nam }}\n",
            "email/x.html": "<p>ok</p>",
        },
    )
    with pytest.raises(TemplateError) as info:
        render_email("x", {"vendor": {"name": "A"}}, folder=folder)
    assert str(info.value).startswith("email/x.txt:3: undefined variable")
    assert "nam" in str(info.value)


def test_none_is_never_printed(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"a.txt": "Dear {{ who }},\nexpires {{ when | long_date }}\n"})
    with pytest.raises(TemplateError, match=r"a.txt:1: refusing to print None"):
        render_text("a.txt", {"who": None, "when": date(2027, 1, 5)}, folder=folder)
    with pytest.raises(TemplateError, match=r"a.txt:2"):
        render_text("a.txt", {"who": "Dana", "when": None}, folder=folder)


def test_filters(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        {
            "f.txt": "{{ 1000000 | money }} {{ d | long_date }} {{ 'general_liability' | coverage }} {{ 'el_each_accident' | limit }}"
        },
    )
    out = render_text("f.txt", {"d": date(2027, 1, 5)}, folder=folder)
    assert out == "$1,000,000 January 5, 2027 General liability employer's liability each-accident"


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"b.txt": "ok\n{% if %}\n"})
    with pytest.raises(TemplateError, match=r"^b.txt:2: syntax error"):
        render_text("b.txt", {}, folder=folder)


def test_an_edited_include_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Templates found in the environment's lookup memo are still re-read when their file
    changes (here with no throttle on the check)."""
    monkeypatch.setattr("comms.templating.RELOAD_CHECK_SECONDS", 0.0)
    folder = _folder(
        tmp_path,
        {
            "email/y.subject.txt": "Hi",
            "email/y.txt": "{% include 'email/_part.txt' %}\n",
            "email/y.html": "<p>{% include 'email/_part.txt' %}</p>\n",
            "email/_part.txt": "first {{ who }}",
        },
    )
    assert render_email("y", {"who": "Dana"}, folder=folder).text == "first Dana\n"
    part = folder / "email" / "_part.txt"
    part.write_text("second {{ who }}")
    os.utime(part, (part.stat().st_atime + 5, part.stat().st_mtime + 5))
    out = render_email("y", {"who": "Dana"}, folder=folder)
    assert out.text == "second Dana\n" and out.html == "<p>second Dana</p>\n"
