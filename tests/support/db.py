"""Throwaway databases: a SQLite file, or a fresh PostgreSQL database per test session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from comms.app.registry import metadata
from comms.db import create_all, make_engine
from tests.support.services import port_open, require

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def postgres_available() -> bool:
    return port_open("127.0.0.1", 5432)


@contextmanager
def fresh_postgres_url() -> Iterator[str]:
    """Create a uniquely named database, yield its URL, drop it afterwards."""
    require(postgres_available(), "PostgreSQL at 127.0.0.1:5432")
    name = f"comms_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def reset_tables(engine: Engine) -> None:
    """Empty every table (fast reuse of one PostgreSQL database across tests)."""
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def sqlite_engine(path: str) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    create_all(engine, metadata)
    return engine
