"""webhook_deliveries: drop the index led by status

Pending deliveries are read by webhook (``ix_webhook_deliveries_webhook_status_seq``). The index
on ``(status, next_attempt_at)`` drew Postgres to it for single-row updates by primary key
whenever its statistics lagged behind the table, through thousands of index entries of rows
delivered moments ago.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_webhook_deliveries_status_next", table_name="webhook_deliveries")


def downgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_status_next", "webhook_deliveries", ["status", "next_attempt_at"]
    )
