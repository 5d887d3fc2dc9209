"""Shared fixtures: isolated settings, SQLite and PostgreSQL engines, a fixed clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.app.registry import metadata
from comms.db import create_all, dispose_engines, make_engine
from comms.settings import reset_settings_cache
from tests.support.db import fresh_postgres_url, reset_tables, sqlite_engine

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "tests" / "samples"  # real documents, copied in with their attribution


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own data folder and no COMMS_* leakage from the environment."""
    for key in list(os.environ):
        if key.startswith("COMMS_"):
            monkeypatch.delenv(key)
    data = tmp_path / "var"
    monkeypatch.setenv("COMMS_DATA_DIR", str(data))
    monkeypatch.setenv("COMMS_CONFIG", str(REPO / "tests" / "support" / "empty.toml"))
    reset_settings_cache()
    yield data
    reset_settings_cache()
    dispose_engines()


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Engine]:
    engine = sqlite_engine(str(tmp_path / "test.db"))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def _pg_url() -> Iterator[str]:
    with fresh_postgres_url() as url:
        engine = make_engine(url)
        create_all(engine, metadata)
        engine.dispose()
        yield url


@pytest.fixture
def pg_db(_pg_url: str) -> Iterator[Engine]:
    engine = make_engine(_pg_url)
    reset_tables(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Engine:
    """The same test on SQLite and on PostgreSQL (required under CI, skipped locally if absent)."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_db")
    return request.getfixturevalue("pg_db")


@pytest.fixture
def session(db: Engine) -> Iterator[Session]:
    with Session(db, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def use_db(db: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """Point the settings (and so the CLI) at the test database."""
    monkeypatch.setenv("COMMS_DATABASE_URL", db.url.render_as_string(hide_password=False))
    reset_settings_cache()
    return db
