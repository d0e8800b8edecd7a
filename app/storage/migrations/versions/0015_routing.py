"""routing: agents' availability, capacity and round-robin turn; where a re-queued item came from

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "availability",
                sqlmodel.AutoString(length=8),
                nullable=False,
                server_default="away",
            )
        )
        batch_op.add_column(sa.Column("capacity", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("route_turn", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("handoff_queue", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requeued_from", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            "fk_handoff_queue_requeued_from_agents", "agents", ["requeued_from"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("handoff_queue", schema=None) as batch_op:
        batch_op.drop_constraint("fk_handoff_queue_requeued_from_agents", type_="foreignkey")
        batch_op.drop_column("requeued_from")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("route_turn")
        batch_op.drop_column("capacity")
        batch_op.drop_column("availability")
