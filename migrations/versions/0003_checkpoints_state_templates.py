"""checkpoints, run_state and templates; runs restored from a checkpoint; workflows from a template

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("workflow_id", sa.String(36), nullable=False),
        sa.Column("workflow_definition_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("auto_key", sa.String(64), nullable=True),
        sa.Column("run_status", sa.String(16), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("input_data", JSON, nullable=False),
        sa.Column("variables", JSON, nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.Column("input_overrides", JSON, nullable=False),
        sa.Column("tasks", JSON, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_checkpoints_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoints")),
        sa.UniqueConstraint("run_id", "auto_key", name="uq_checkpoints_run_auto_key"),
    )
    op.create_index(op.f("ix_checkpoints_run_id"), "checkpoints", ["run_id"])
    op.create_index(op.f("ix_checkpoints_created_at"), "checkpoints", ["created_at"])

    op.create_table(
        "run_state",
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("updated_at", WHEN, nullable=True),
        sa.Column("updated_by", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_state_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_state")),
    )
    # Runs that exist already get their (empty) state row, as new runs do when they start.
    op.execute("INSERT INTO run_state (run_id, data) SELECT id, '{}' FROM runs")

    op.create_table(
        "templates",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("workflow_id", sa.String(36), nullable=True),
        sa.Column("workflow_definition_id", sa.String(36), nullable=True),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("parameters", JSON, nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_templates")),
        sa.UniqueConstraint("name", name=op.f("uq_templates_name")),
    )

    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("original_run_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("checkpoint_id", sa.String(36), nullable=True))
    with op.batch_alter_table("workflows") as batch:
        batch.add_column(sa.Column("template_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("template_parameters", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workflows") as batch:
        batch.drop_column("template_parameters")
        batch.drop_column("template_id")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("checkpoint_id")
        batch.drop_column("original_run_id")
    op.drop_table("templates")
    op.drop_table("run_state")
    op.drop_index(op.f("ix_checkpoints_created_at"), table_name="checkpoints")
    op.drop_index(op.f("ix_checkpoints_run_id"), table_name="checkpoints")
    op.drop_table("checkpoints")
