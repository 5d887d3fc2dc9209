"""Failure class 9 through the inbound pipeline: an ACORD 28 sent instead of an ACORD 25 is
held for review, and the reason names the form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from comms.app.cli import app
from comms.models import Case
from tests.inbound.conftest import WHEN, make_world, reply
from tests.support.acord25_cases import other_acord_form
from tests.support.scheduler_fixtures import _fresh_broker, smtp  # noqa: F401


@pytest.mark.usefixtures("smtp")  # the acknowledgment goes to a local test server
def test_acord_28_is_held_for_review_with_its_form_named(use_db: Engine, tmp_path: Path) -> None:
    world = make_world(use_db)
    raw = reply(attachments=[("evidence.pdf", "application/pdf", other_acord_form("28"))])
    path = tmp_path / "reply.eml"
    path.write_bytes(raw)
    result = CliRunner().invoke(app, ["ingest", str(path), "--json", "--now", WHEN.isoformat()])
    assert result.exit_code in (0, 1), result.output
    out = json.loads(result.stdout)
    [cert] = out["certificates"]
    assert cert["status"] == "needs_review"
    assert "the document is an ACORD 28, not an ACORD 25" in cert["review_reasons"]
    with Session(use_db) as s:
        case = s.get(Case, world.case_id)
        assert case is not None and case.state == "active"  # nothing counted
