"""invocations: direct calls of an integration capability, outside any run

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "invocations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("integration_id", sa.String(64), nullable=False),
        sa.Column("capability_id", sa.String(64), nullable=False),
        sa.Column("agent_name", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("parameters", JSON, nullable=False),
        sa.Column("output", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(255), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("started_at", WHEN, nullable=True),
        sa.Column("completed_at", WHEN, nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invocations")),
    )
    op.create_index(op.f("ix_invocations_integration_id"), "invocations", ["integration_id"])
    op.create_index(op.f("ix_invocations_status"), "invocations", ["status"])
    op.create_index(op.f("ix_invocations_created_at"), "invocations", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_invocations_created_at"), table_name="invocations")
    op.drop_index(op.f("ix_invocations_status"), table_name="invocations")
    op.drop_index(op.f("ix_invocations_integration_id"), table_name="invocations")
    op.drop_table("invocations")
