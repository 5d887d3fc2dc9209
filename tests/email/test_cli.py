from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from comms.app.cli import app
from comms.outbox import suppress
from comms.settings import get_settings
from comms.tokens import token_from_address, verify_token
from tests.email.helpers import make_vendor
from tests.support.smtp_server import SmtpTestServer

runner = CliRunner()


def test_templates_check_passes() -> None:
    result = runner.invoke(app, ["templates", "check"])
    assert result.exit_code == 0, result.output
    assert "7 email templates checked" in result.output


def test_templates_check_fails_on_a_broken_template(tmp_path: Path, monkeypatch) -> None:
    import shutil

    from comms.templating import DEFAULT_TEMPLATES_DIR

    folder = tmp_path / "templates"
    shutil.copytree(DEFAULT_TEMPLATES_DIR / "email", folder / "email")
    (folder / "email" / "reminder.txt").write_text(
        '{% extends "email/_layout.txt" %}\n{% block body %}\n{{ vendor.nickname }}\n{% endblock %}\n'
    )
    monkeypatch.setenv("COMMS_TEMPLATES_DIR", str(folder))
    result = runner.invoke(app, ["templates", "check"])
    assert result.exit_code == 1
    assert "email/reminder.txt:3: undefined variable" in result.output


def test_templates_render_sample_and_vendor(use_db: Engine, now: datetime) -> None:
    result = runner.invoke(
        app, ["templates", "render", "deficiency_notice", "--sample", "deficient"]
    )
    assert result.exit_code == 0, result.output
    assert "$1,000,000 is required" in result.output
    with Session(use_db) as s:
        make_vendor(s, now, name="Brightline Electric", each_occurrence=500000)
        s.commit()
    result = runner.invoke(
        app,
        [
            "templates",
            "render",
            "reminder",
            "--vendor",
            "brightline electric",
            "--now",
            now.isoformat(),
            "--part",
            "all",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Subject: Reminder: certificate of insurance for Brightline Electric" in result.output
    assert "<html" in result.output
    bad = runner.invoke(app, ["templates", "render", "reminder", "--vendor", "nobody"])
    assert bad.exit_code == 2 and "no vendor named" in bad.output


def test_send_test_over_smtp(use_db: Engine, smtp: SmtpTestServer) -> None:
    result = runner.invoke(app, ["send-test", "--to", "ops@client.test"])
    assert result.exit_code == 0, result.output
    delivery_id = int(re.search(r"delivery (\d+)", result.output).group(1))  # type: ignore[union-attr]
    message_id = re.search(r"Message-ID: (<[^>]+>)", result.output).group(1)  # type: ignore[union-attr]
    assert len(smtp.messages) == 1
    msg = smtp.messages[0].message
    assert smtp.messages[0].rcpt_tos == ["ops@client.test"]
    assert msg["Message-ID"] == message_id
    token = token_from_address(str(msg["Reply-To"]), local_part="coi")
    ids = verify_token(token or "", get_settings().signing_key())
    assert ids is not None and ids.delivery_id == delivery_id and ids.case_id == 0


def test_send_test_to_file_outbox(use_db: Engine) -> None:
    result = runner.invoke(app, ["send-test", "--to", "ops@client.test"])
    assert result.exit_code == 0, result.output
    delivery_id = int(re.search(r"delivery (\d+)", result.output).group(1))  # type: ignore[union-attr]
    assert (get_settings().effective_outbox_dir / f"{delivery_id}.eml").is_file()


def test_suppressions_list_and_clear(use_db: Engine, now: datetime) -> None:
    with Session(use_db) as s:
        suppress(s, "email", "Bad@X.test", reason="550 no such user", now=now)
        s.commit()
    listed = runner.invoke(app, ["suppressions", "list"])
    assert listed.exit_code == 0 and "bad@x.test" in listed.output
    cleared = runner.invoke(app, ["suppressions", "clear", "bad@x.test", "--by", "jo"])
    assert cleared.exit_code == 0, cleared.output
    again = runner.invoke(app, ["suppressions", "clear", "bad@x.test"])
    assert again.exit_code == 1
    assert "0 suppressed" in runner.invoke(app, ["suppressions", "list"]).output
