from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.profiles import load_profiles

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def profiles_loaded(db: Engine) -> Engine:
    with Session(db) as s:
        load_profiles(s, REPO / "config" / "requirements")
        s.commit()
    return db
