"""projects: the project table and the vendor's project (issue 15, per-project holder)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 17:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import comms.models.types


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('project',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('source_path', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', comms.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', comms.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_project_name', 'project', ['name'], unique=True)
    # plain ADD COLUMN (no batch copy of the vendor table, which keeps its expression index)
    op.add_column('vendor', sa.Column('project', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_index('ix_vendor_project', 'vendor', ['project'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_vendor_project', table_name='vendor')
    with op.batch_alter_table('vendor', schema=None) as batch_op:
        batch_op.drop_column('project')
    op.drop_index('ix_project_name', table_name='project')
    op.drop_table('project')
