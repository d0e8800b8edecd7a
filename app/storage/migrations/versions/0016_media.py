"""media: the pictures of MMS texts (inbound and agents' attachments), and the console outbox's

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.storage.types import UtcDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_media",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("content_type", sqlmodel.AutoString(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("sha256", sqlmodel.AutoString(length=64), nullable=True),
        sa.Column("storage_key", sqlmodel.AutoString(length=200), nullable=True),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("state", sqlmodel.AutoString(length=8), nullable=False),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("fetched_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", "position", name="uq_message_media_position"),
    )
    with op.batch_alter_table("console_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("media", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("console_outbox", schema=None) as batch_op:
        batch_op.drop_column("media")
    op.drop_table("message_media")
