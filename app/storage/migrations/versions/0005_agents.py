"""agents: console accounts, their sessions, the audit log, and claims on the human queue

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.storage import append_only
from app.storage.types import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_APPEND_ONLY = ("audit_log",)


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sqlmodel.AutoString(length=254), nullable=False),
        sa.Column("display_name", sqlmodel.AutoString(length=100), nullable=False),
        sa.Column("role", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("password_hash", sqlmodel.AutoString(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("brands", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_login_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "agent_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("csrf_token", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("ip", sqlmodel.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("agent_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_agent_sessions_agent", ["agent_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("action", sqlmodel.AutoString(length=48), nullable=False),
        sa.Column("target", sqlmodel.AutoString(length=254), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("ip", sqlmodel.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_action_at", ["action", "at"], unique=False)
        batch_op.create_index("ix_audit_log_agent", ["agent_id", "id"], unique=False)
    append_only.install(op.get_bind(), _APPEND_ONLY)
    with op.batch_alter_table("handoff_queue", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assigned_to", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("resolved_at", UtcDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("outcome", sqlmodel.AutoString(length=32), nullable=True)
        )
        batch_op.create_foreign_key(
            "fk_handoff_queue_assigned_to", "agents", ["assigned_to"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("handoff_queue", schema=None) as batch_op:
        batch_op.drop_constraint("fk_handoff_queue_assigned_to", type_="foreignkey")
        batch_op.drop_column("outcome")
        batch_op.drop_column("resolved_at")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("assigned_to")
    append_only.uninstall(op.get_bind(), _APPEND_ONLY)
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_agent")
        batch_op.drop_index("ix_audit_log_action_at")
    op.drop_table("audit_log")
    with op.batch_alter_table("agent_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_sessions_agent")
    op.drop_table("agent_sessions")
    op.drop_table("agents")
