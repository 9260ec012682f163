"""invocations.submitted_at (outbox mark for the recovery sweep) and events.invocation_id

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invocations") as batch:
        batch.add_column(sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("invocation_id", sa.String(36), nullable=True))
    op.create_index("ix_events_invocation_id_id", "events", ["invocation_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_invocation_id_id", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("invocation_id")
    with op.batch_alter_table("invocations") as batch:
        batch.drop_column("submitted_at")
