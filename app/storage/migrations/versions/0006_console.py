"""console: teams, the SLA clock and snoozing on queue items, internal notes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.storage import append_only
from app.storage.types import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_APPEND_ONLY = ("conversation_notes",)


def upgrade() -> None:
    with op.batch_alter_table("handoff_queue", schema=None) as batch_op:
        batch_op.add_column(sa.Column("team", sqlmodel.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("due_at", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("first_response_at", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("snoozed_until", UtcDateTime(), nullable=True))
        batch_op.create_index("ix_handoff_conversation", ["conversation_id", "status"])
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("team", sqlmodel.AutoString(length=64), nullable=True))
    op.create_table(
        "conversation_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("conversation_notes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_notes_conversation", ["conversation_id", "id"], unique=False
        )
    append_only.install(op.get_bind(), _APPEND_ONLY)


def downgrade() -> None:
    append_only.uninstall(op.get_bind(), _APPEND_ONLY)
    with op.batch_alter_table("conversation_notes", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_notes_conversation")
    op.drop_table("conversation_notes")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("team")
    with op.batch_alter_table("handoff_queue", schema=None) as batch_op:
        batch_op.drop_index("ix_handoff_conversation")
        batch_op.drop_column("snoozed_until")
        batch_op.drop_column("first_response_at")
        batch_op.drop_column("due_at")
        batch_op.drop_column("team")
