"""call tasks: a reservation's end, and the vendors one call covers

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import comms.models.types


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('call_task', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('reserved_until', comms.models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column('items', sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table('call_task', schema=None) as batch_op:
        batch_op.drop_column('items')
        batch_op.drop_column('reserved_until')
