"""Alembic environment: always run with a connection handed in by `app.storage.migrate`."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import app.storage.tables  # noqa: F401  (registers the tables on the metadata)

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through app.storage.migrate(engine) or `smsdesk db upgrade`")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
