"""Seed 004's plans and executions: where a workflow came from, and tags/creator to filter by

- ``workflows.origin``: the API that created it (``v1``, ``seed004``…); seed 004 lists its plans.
- ``workflows.inline``: made for one execution (seed 004's ``POST /api/executions`` with a
  ``plan`` body): not listed, and its name is not reserved.
- ``workflows.tags`` / ``runs.tags`` and ``created_by``: copied from seed 004's ``metadata``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("workflows") as batch:
        batch.add_column(sa.Column("origin", sa.String(16), nullable=False, server_default="v1"))
        batch.add_column(
            sa.Column("inline", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("tags", JSON, nullable=True))
        batch.add_column(sa.Column("created_by", sa.String(255), nullable=True))
        batch.create_index("ix_workflows_origin", ["origin"])
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("tags", JSON, nullable=True))
        batch.add_column(sa.Column("created_by", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("created_by")
        batch.drop_column("tags")
    with op.batch_alter_table("workflows") as batch:
        batch.drop_index("ix_workflows_origin")
        batch.drop_column("created_by")
        batch.drop_column("tags")
        batch.drop_column("inline")
        batch.drop_column("origin")
