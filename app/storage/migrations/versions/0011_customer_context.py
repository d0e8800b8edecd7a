"""customer context: customers, their orders, appointments and subscriptions (built-in source)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.storage.types import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("brand", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("phone_e164", sqlmodel.AutoString(length=20), nullable=False),
        sa.Column("name", sqlmodel.AutoString(length=200), nullable=False),
        sa.Column("language", sqlmodel.AutoString(length=8), nullable=False),
        sa.Column("email", sqlmodel.AutoString(length=254), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("brand", "phone_e164", name="uq_customer_contact"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("brand", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("ref", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("items", sqlmodel.AutoString(length=300), nullable=False),
        sa.Column("placed_at", UtcDateTime(), nullable=False),
        sa.Column("tracking_url", sqlmodel.AutoString(length=500), nullable=True),
        sa.Column("carrier", sqlmodel.AutoString(length=64), nullable=True),
        sa.Column("eta", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("brand", "ref", name="uq_order_ref"),
    )
    op.create_index("ix_orders_customer", "orders", ["customer_id", "placed_at"])
    op.create_table(
        "appointments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("brand", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("ref", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("service", sqlmodel.AutoString(length=100), nullable=False),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("location", sqlmodel.AutoString(length=200), nullable=False),
        sa.Column("status", sqlmodel.AutoString(length=16), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("brand", "ref", name="uq_appointment_ref"),
    )
    op.create_index("ix_appointments_customer", "appointments", ["customer_id", "starts_at"])
    op.create_index("ix_appointments_brand_start", "appointments", ["brand", "starts_at"])
    op.create_table(
        "subscriptions",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("brand", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("plan", sqlmodel.AutoString(length=100), nullable=False),
        sa.Column("status", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("renews_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("customer_id"),
    )


def downgrade() -> None:
    op.drop_table("subscriptions")
    op.drop_index("ix_appointments_brand_start", table_name="appointments")
    op.drop_index("ix_appointments_customer", table_name="appointments")
    op.drop_table("appointments")
    op.drop_index("ix_orders_customer", table_name="orders")
    op.drop_table("orders")
    op.drop_table("customers")
