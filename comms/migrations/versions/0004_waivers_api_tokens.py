"""waivers, per-staff API tokens, audit log entity index

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 15:19:27.130729
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import comms.models.types


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('staff_api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('token_sha256', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', comms.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', comms.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', comms.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_sha256')
    )
    with op.batch_alter_table('staff_api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_api_token_staff_id'), ['staff_id'], unique=False)

    op.create_table('waiver',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vendor_id', sa.Integer(), nullable=False),
    sa.Column('coverage', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('limit', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('granted_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('granted_at', comms.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('revoked_at', comms.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('revoked_on', sa.Date(), nullable=True),
    sa.Column('live_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendor.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('live_key')
    )
    with op.batch_alter_table('waiver', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_waiver_expires_on'), ['expires_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_waiver_vendor_id'), ['vendor_id'], unique=False)

    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_entity', ['entity', 'entity_id', 'at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_entity')

    with op.batch_alter_table('waiver', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_waiver_vendor_id'))
        batch_op.drop_index(batch_op.f('ix_waiver_expires_on'))

    op.drop_table('waiver')
    with op.batch_alter_table('staff_api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_api_token_staff_id'))

    op.drop_table('staff_api_token')
