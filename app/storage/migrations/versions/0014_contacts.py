"""contacts: what agents know about a customer of one brand (name, notes, tags, language)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.storage.types import UtcDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("brand", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("phone_e164", sqlmodel.AutoString(length=20), nullable=False),
        sa.Column("name", sqlmodel.AutoString(length=100), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("language", sqlmodel.AutoString(length=16), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["updated_by"], ["agents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("brand", "phone_e164", name="uq_contacts_contact"),
    )


def downgrade() -> None:
    op.drop_table("contacts")
