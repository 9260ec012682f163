"""webhooks.event_types: the internal event types a webhook's patterns select

Computed from ``events`` whenever they are set, so a single statement can match events to
webhooks in SQL (the worker's claim and finish statements write the outbox themselves).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from app.events.vocabulary import notified_types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("event_types", JSON, nullable=True))
    webhooks = sa.table(
        "webhooks",
        sa.column("id", sa.String),
        sa.column("events", JSON),
        sa.column("event_types", JSON),
    )
    bind = op.get_bind()
    for webhook_id, events in bind.execute(sa.select(webhooks.c.id, webhooks.c.events)).all():
        bind.execute(
            webhooks.update()
            .where(webhooks.c.id == webhook_id)
            .values(event_types=notified_types(events or []))
        )


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("event_types")
