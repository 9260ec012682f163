"""workflows.version_label: the version as its author calls it ("1.0.0", "1.1.0")

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflows") as batch:
        batch.add_column(sa.Column("version_label", sa.String(64), nullable=True))
    # Rows written before: the label the service would have given (1.0.0, then minor bumps).
    op.execute(
        "UPDATE workflows SET version_label = '1.' || CAST(version - 1 AS VARCHAR(12)) || '.0'"
    )


def downgrade() -> None:
    with op.batch_alter_table("workflows") as batch:
        batch.drop_column("version_label")
