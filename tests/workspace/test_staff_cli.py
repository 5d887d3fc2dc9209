"""`comms staff add|list|disable|passwd`: accounts, Argon2 hashes, audit entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from comms.app.cli import app
from comms.models import AuditLog
from comms.staff.models import Staff
from comms.staff.passwords import verify_password
from comms.staff.sessions import find_session, open_session

runner = CliRunner()
NOW = "2026-11-02T14:00:00Z"


def _invoke(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


def test_add_list_disable_passwd_with_audit(use_db: Engine) -> None:
    code, out = _invoke(
        "staff",
        "add",
        "ann",
        "--role",
        "compliance",
        "--password-stdin",
        "--now",
        NOW,
        stdin="correct horse battery\n",
    )
    assert code == 0, out
    with Session(use_db) as s:
        ann = s.exec(select(Staff)).one()
        assert ann.role == "compliance" and not ann.disabled
        assert ann.password_hash.startswith("$argon2id$")
        assert verify_password(ann.password_hash, "correct horse battery")
        assert not verify_password(ann.password_hash, "correct horse battery\n")
        assert ann.created_at == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
        at = ann.created_at
        token, _ = open_session(s, ann, now=at, lifetime=timedelta(hours=1), address="127.0.0.1")
        s.commit()
    code, out = _invoke("staff", "list")
    assert code == 0 and "ann" in out and "compliance" in out and "active" in out

    code, out = _invoke(
        "staff", "passwd", "ann", "--password-stdin", "--now", NOW, stdin="another long one\n"
    )
    assert code == 0, out
    with Session(use_db) as s:
        assert find_session(s, token, now=at) is None  # a new password ends the sessions
        ann = s.exec(select(Staff)).one()
        assert verify_password(ann.password_hash, "another long one")

    code, out = _invoke("staff", "disable", "ann", "--now", NOW)
    assert code == 0, out
    code, out = _invoke("staff", "list")
    assert "disabled" in out
    with Session(use_db) as s:
        entries = s.exec(select(AuditLog).order_by(AuditLog.id)).all()  # type: ignore[arg-type]
    assert [e.action for e in entries] == ["staff.add", "staff.passwd", "staff.disable"]
    assert all(e.actor.startswith("cli") and e.entity == "staff" for e in entries)
    assert entries[0].data["before"] is None
    assert entries[0].data["after"] == {"name": "ann", "role": "compliance", "disabled": False}
    assert entries[2].data["before"]["disabled"] is False
    assert entries[2].data["after"]["disabled"] is True
    assert "password" not in str(entries[0].data).replace("password_changed", "")
    assert "argon2" not in str([e.data for e in entries])


def test_refusals_name_the_problem(use_db: Engine) -> None:
    ok = _invoke(
        "staff", "add", "bo", "--role", "caller", "--password-stdin", stdin="long enough pw\n"
    )
    assert ok[0] == 0, ok[1]
    for args, stdin, words in [
        (
            ("staff", "add", "bo", "--role", "caller", "--password-stdin"),
            "long enough pw\n",
            "exists",
        ),
        (
            ("staff", "add", "cy", "--role", "boss", "--password-stdin"),
            "long enough pw\n",
            "unknown role",
        ),
        (("staff", "add", "cy", "--role", "admin", "--password-stdin"), "short\n", "at least"),
        (
            ("staff", "add", "bad name", "--role", "admin", "--password-stdin"),
            "long enough pw\n",
            "staff name",
        ),
        (("staff", "disable", "nobody"), None, "no staff member"),
        (("staff", "passwd", "nobody", "--password-stdin"), "long enough pw\n", "no staff member"),
    ]:
        code, out = _invoke(*args, stdin=stdin)
        assert code == 2, (args, out)
        assert words in out, (args, out)
        assert "Traceback" not in out
