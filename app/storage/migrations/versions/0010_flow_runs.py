"""flow runs: one flow sent to one customer (stand-in for the core helper's migration)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.storage.types import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flow_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("brand", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("phone_e164", sqlmodel.AutoString(length=20), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("flow", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("node", sqlmodel.AutoString(length=64), nullable=True),
        sa.Column("status", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("outcome", sqlmodel.AutoString(length=64), nullable=True),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("unrecognised", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=True),
        sa.Column("source", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("idempotency_key", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("first_reply_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    for column in ("phone_e164", "conversation_id", "flow", "campaign_id"):
        op.create_index(f"ix_flow_runs_{column}", "flow_runs", [column])


def downgrade() -> None:
    for column in ("phone_e164", "conversation_id", "flow", "campaign_id"):
        op.drop_index(f"ix_flow_runs_{column}", table_name="flow_runs")
    op.drop_table("flow_runs")
