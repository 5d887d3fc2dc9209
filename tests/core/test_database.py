from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from comms.app.registry import metadata
from comms.db import make_engine
from comms.migrate import current_revision, upgrade
from comms.models import Case, Vendor
from tests.support.db import fresh_postgres_url


def test_sqlite_uses_wal_and_foreign_keys(sqlite_db: Engine) -> None:
    with sqlite_db.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_timestamps_are_aware_utc_on_both_backends(session: Session) -> None:
    eastern = timezone(timedelta(hours=-5))
    v = Vendor(name="Tz Co", created_at=datetime(2026, 3, 1, 7, 0, tzinfo=eastern))
    session.add(v)
    session.commit()
    session.expire_all()
    got = session.get(Vendor, v.id)
    assert got is not None
    assert got.created_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert got.created_at.tzinfo is not None


def test_naive_datetime_is_refused(session: Session) -> None:
    session.add(Vendor(name="Naive", created_at=datetime(2026, 1, 1)))
    with pytest.raises(Exception, match="naive"):
        session.commit()


def test_never_two_open_cases_per_vendor_and_trigger(session: Session) -> None:
    v = Vendor(name="Dup Co")
    session.add(v)
    session.commit()
    assert v.id is not None
    session.add(Case(vendor_id=v.id, trigger="expiring", workflow="expiring"))
    session.commit()
    session.add(Case(vendor_id=v.id, trigger="expiring", workflow="expiring"))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    # a resolved case does not block a new one
    session.add(Case(vendor_id=v.id, trigger="missing", workflow="missing", state="resolved"))
    session.add(Case(vendor_id=v.id, trigger="missing", workflow="missing"))
    session.commit()


def _assert_migrations_match_models(engine: Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) is not None
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"models and migrations differ; regenerate the migration: {diff}"


def test_migrations_match_models_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    _assert_migrations_match_models(engine)
    upgrade(engine)  # idempotent
    engine.dispose()


@pytest.mark.postgres
def test_migrations_match_models_postgres() -> None:
    with fresh_postgres_url() as url:
        engine = make_engine(url)
        try:
            _assert_migrations_match_models(engine)
        finally:
            engine.dispose()


def test_bulk_writes_store_what_the_orm_stores(session: Session) -> None:
    """`comms.executemany`: rows that share one timestamp and one JSON object, a JSON None
    and a value per row are stored exactly as the ORM stores them, on both backends."""
    from sqlmodel import col, select

    from comms.executemany import insert_many, update_by_id
    from comms.models import Delivery
    from comms.outbox import NewDelivery
    from comms.outbox_bulk import DELIVERY_COLUMNS, row_values

    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    shared = {"cc": [], "render": {"pending": True}}
    rows = []
    for i in range(5):
        new = NewDelivery(
            idempotency_key=f"k{i}",
            channel="email",
            recipient=f"r{i}@acme.test",
            template="reminder",
            content=shared if i < 3 else {"n": i},
        )
        row = dict(
            zip(DELIVERY_COLUMNS, row_values(new, ("queued", None, None), when), strict=True)
        )
        row["updated_at"] = when + timedelta(minutes=i)
        rows.append(row)
    conn = session.connection()
    table = Delivery.__table__  # type: ignore[attr-defined]
    returned = insert_many(
        conn, table, rows, returning=("idempotency_key", "id"), skip_conflicts_on="idempotency_key"
    )
    ids = dict(returned)
    again = insert_many(
        conn,
        table,
        rows[:2],
        returning=("idempotency_key", "id"),
        skip_conflicts_on="idempotency_key",
    )
    assert len(ids) == 5 and again == []
    later = when + timedelta(hours=1)
    update_by_id(
        conn,
        table,
        [{"id": ids[f"k{i}"], "subject": f"S{i}", "lease_until": later} for i in range(5)],
    )
    session.commit()
    session.expire_all()
    got = {
        d.idempotency_key: d
        for d in session.exec(select(Delivery).where(col(Delivery.id).in_(list(ids.values()))))
    }
    for i in range(5):
        d = got[f"k{i}"]
        assert d.content == (shared if i < 3 else {"n": i})
        assert d.created_at == when and d.updated_at == when + timedelta(minutes=i)
        assert d.subject == f"S{i}" and d.lease_until == later and d.lease_until.tzinfo
