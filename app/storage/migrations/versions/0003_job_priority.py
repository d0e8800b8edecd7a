"""job priority: opt-outs overtake the backlog of other conversations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="0")
        )
        batch_op.drop_index("ix_jobs_ready")
        batch_op.create_index("ix_jobs_ready", ["state", "priority", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_ready")
        batch_op.create_index("ix_jobs_ready", ["state", "run_after", "id"], unique=False)
        batch_op.drop_column("priority")
