"""Regenerate the initial migration from the models (pre-1.0: one migration, no data to keep).

Run: .venv/bin/python scripts/regenerate_migration.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command

from comms.app.registry import metadata
from comms.migrate import MIGRATIONS, alembic_config


def main() -> None:
    for old in (MIGRATIONS / "versions").glob("0001_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = alembic_config(f"sqlite:///{Path(tmp) / 'gen.db'}", metadata)
        command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")


if __name__ == "__main__":
    main()
