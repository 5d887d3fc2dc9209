"""stored verdicts: each vendor's verdict, its changes, the counts by profile and status;
the vendor name search index

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 15:40:01.241866
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import comms.models.types


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_vendor_name_lower', 'vendor', [sa.text('lower(name)')], unique=False)
    op.create_table('verdict_count',
    sa.Column('profile_key', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('profile_key', 'status')
    )
    op.create_table('vendor_verdict',
    sa.Column('vendor_id', sa.Integer(), nullable=False),
    sa.Column('profile_id', sa.Integer(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('severity', sa.Integer(), nullable=False),
    sa.Column('unreachable', sa.Boolean(), nullable=False),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('deficiencies', sa.JSON(), nullable=False),
    sa.Column('next_expiration', sa.Date(), nullable=True),
    sa.Column('expired_since', sa.Date(), nullable=True),
    sa.Column('covered', sa.JSON(), nullable=False),
    sa.Column('waived', sa.JSON(), nullable=False),
    sa.Column('waivers', sa.JSON(), nullable=False),
    sa.Column('computed_for', sa.Date(), nullable=False),
    sa.Column('changes_on', sa.Date(), nullable=True),
    sa.Column('updated_at', comms.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendor.id'], ),
    sa.PrimaryKeyConstraint('vendor_id')
    )
    with op.batch_alter_table('vendor_verdict', schema=None) as batch_op:
        batch_op.create_index('ix_vendor_verdict_changes_on', ['changes_on'], unique=False)
        batch_op.create_index('ix_vendor_verdict_computed_for', ['computed_for'], unique=False)
        batch_op.create_index('ix_vendor_verdict_next_expiration', ['next_expiration'], unique=False)
        batch_op.create_index('ix_vendor_verdict_profile_status', ['profile_id', 'status'], unique=False)
        batch_op.create_index('ix_vendor_verdict_status', ['status'], unique=False)
        batch_op.create_index('ix_vendor_verdict_worst', ['severity', 'next_expiration', 'vendor_id'], unique=False)

    op.create_table('verdict_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vendor_id', sa.Integer(), nullable=False),
    sa.Column('at', comms.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('old_status', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('new_status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendor.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('verdict_change', schema=None) as batch_op:
        batch_op.create_index('ix_verdict_change_at', ['at'], unique=False)
        batch_op.create_index('ix_verdict_change_vendor_at', ['vendor_id', 'at'], unique=False)



def downgrade() -> None:
    op.drop_index('ix_vendor_name_lower', table_name='vendor')
    with op.batch_alter_table('verdict_change', schema=None) as batch_op:
        batch_op.drop_index('ix_verdict_change_vendor_at')
        batch_op.drop_index('ix_verdict_change_at')

    op.drop_table('verdict_change')
    with op.batch_alter_table('vendor_verdict', schema=None) as batch_op:
        batch_op.drop_index('ix_vendor_verdict_worst')
        batch_op.drop_index('ix_vendor_verdict_status')
        batch_op.drop_index('ix_vendor_verdict_profile_status')
        batch_op.drop_index('ix_vendor_verdict_next_expiration')
        batch_op.drop_index('ix_vendor_verdict_computed_for')
        batch_op.drop_index('ix_vendor_verdict_changes_on')

    op.drop_table('vendor_verdict')
    op.drop_table('verdict_count')
