"""quarantine reason codes

A reason code and whether it is permanent, on every quarantined inbound message
(`inbound_email.quarantine_code`, `quarantine_permanent`) and webhook event
(`webhook_event.error_code`, `error_permanent`): the re-run commands retry the transient
ones by default. Rows quarantined before get a code read from their reason's text.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 12:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_email", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("quarantine_code", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "quarantine_permanent", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
    with op.batch_alter_table("webhook_event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("error_code", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("error_permanent", sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    inbound = sa.table(
        "inbound_email",
        sa.column("status", sa.String),
        sa.column("quarantine_reason", sa.String),
        sa.column("quarantine_code", sa.String),
        sa.column("quarantine_permanent", sa.Boolean),
    )
    quarantined = inbound.c.status == "quarantined"
    for pattern, code, permanent in (
        ("message is % bytes, over COMMS_MAX_MESSAGE_BYTES%", "message_too_large", True),
        ("attachment refused:%", "attachment_refused", True),
    ):
        op.execute(
            inbound.update()
            .where(quarantined, inbound.c.quarantine_reason.like(pattern))
            .values(quarantine_code=code, quarantine_permanent=permanent)
        )
    op.execute(
        inbound.update()
        .where(quarantined, inbound.c.quarantine_code.is_(None))
        .values(quarantine_code="internal_error", quarantine_permanent=False)
    )

    events = sa.table(
        "webhook_event",
        sa.column("processed_at", sa.DateTime),
        sa.column("error", sa.String),
        sa.column("error_code", sa.String),
    )
    waiting = events.c.processed_at.is_(None) & events.c.error.is_not(None)
    op.execute(
        events.update()
        .where(waiting, events.c.error == "spilled: the database was unavailable")
        .values(error_code="database_unavailable")
    )
    op.execute(
        events.update()
        .where(waiting, events.c.error_code.is_(None))
        .values(error_code="internal_error")
    )


def downgrade() -> None:
    with op.batch_alter_table("webhook_event", schema=None) as batch_op:
        batch_op.drop_column("error_permanent")
        batch_op.drop_column("error_code")
    with op.batch_alter_table("inbound_email", schema=None) as batch_op:
        batch_op.drop_column("quarantine_permanent")
        batch_op.drop_column("quarantine_code")
