"""signups: double opt-in requests waiting for the customer's YES (SPEC §11 REC-1)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.storage.types import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sqlmodel.AutoString(length=160), nullable=False),
        sa.Column("brand", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("phone_e164", sqlmodel.AutoString(length=20), nullable=False),
        sa.Column("mode", sqlmodel.AutoString(length=8), nullable=False),
        sa.Column("status", sqlmodel.AutoString(length=12), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("channel", sqlmodel.AutoString(length=8), nullable=False),
        sa.Column("source", sqlmodel.AutoString(length=200), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("request_message_id", sa.Uuid(), nullable=True),
        sa.Column("request_note", sqlmodel.AutoString(length=200), nullable=True),
        sa.Column("confirmed_at", UtcDateTime(), nullable=True),
        sa.Column("confirm_provider_message_id", sqlmodel.AutoString(length=160), nullable=True),
        sa.Column("consent_event_id", sa.Uuid(), nullable=True),
        sa.Column("confirmation_message_id", sa.Uuid(), nullable=True),
        sa.Column("cancelled_at", UtcDateTime(), nullable=True),
        sa.Column("cancel_reason", sqlmodel.AutoString(length=200), nullable=True),
        sa.ForeignKeyConstraint(["request_message_id"], ["messages.id"]),
        sa.ForeignKeyConstraint(["confirmation_message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("signups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_signups_contact", ["brand", "phone_e164", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("signups", schema=None) as batch_op:
        batch_op.drop_index("ix_signups_contact")
    op.drop_table("signups")
