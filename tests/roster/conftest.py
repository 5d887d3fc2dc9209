"""Fixtures for the roster import: the shipped requirement profiles, loaded."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.profiles import load_profiles
from tests.conftest import REPO


@pytest.fixture
def profiles_loaded(db: Engine) -> Engine:
    with Session(db) as s:
        load_profiles(s, REPO / "config" / "requirements")
        s.commit()
    return db
