"""Consent ledger and compliance decisions, both append-only.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.storage import append_only
from app.storage.types import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = ("consent_events", "compliance_decisions")


def upgrade() -> None:
    op.create_table(
        "consent_events",
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("ruleset_version", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("brand", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("phone_e164", sqlmodel.AutoString(length=20), nullable=False),
        sa.Column("event_type", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("scope", sqlmodel.AutoString(length=16), nullable=True),
        sa.Column("category", sqlmodel.AutoString(length=16), nullable=True),
        sa.Column("channel", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("source", sqlmodel.AutoString(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("provider_message_id", sqlmodel.AutoString(length=128), nullable=True),
        sa.Column("normalised_text", sa.Text(), nullable=True),
        sa.Column("rule", sqlmodel.AutoString(length=32), nullable=True),
        sa.Column("keyword", sqlmodel.AutoString(length=32), nullable=True),
        sa.Column("received_at", UtcDateTime(), nullable=True),
        sa.Column("processed_at", UtcDateTime(), nullable=False),
        sa.Column("effective_at", UtcDateTime(), nullable=False),
        sa.Column("related_event_id", sa.Uuid(), nullable=True),
        sa.Column("actor", sqlmodel.AutoString(length=100), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
    )
    op.create_index("ix_consent_events_contact", "consent_events", ["brand", "phone_e164", "seq"])
    op.create_table(
        "compliance_decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("decision_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("brand", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("phone_e164", sqlmodel.AutoString(length=20), nullable=False),
        sa.Column("direction", sqlmodel.AutoString(length=8), nullable=False),
        sa.Column("provider_message_id", sqlmodel.AutoString(length=128), nullable=True),
        sa.Column("outcome", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("rule", sqlmodel.AutoString(length=48), nullable=False),
        sa.Column("ruleset_version", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("decided_at", UtcDateTime(), nullable=False),
        sa.Column("decision", sa.JSON(), nullable=False),
        sa.UniqueConstraint("brand", "direction", "provider_message_id", name="uq_decision_message"),
    )
    op.create_index(
        "ix_compliance_decisions_contact", "compliance_decisions", ["brand", "phone_e164", "id"]
    )
    append_only.install(op.get_bind(), _TABLES)


def downgrade() -> None:
    append_only.uninstall(op.get_bind(), _TABLES)
    op.drop_table("compliance_decisions")
    op.drop_table("consent_events")
