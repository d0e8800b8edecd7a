"""Storage: engines, tables, migrations. The rest of smsdesk reaches the database through here.

Public surface: `make_engine`, `reading`, `first_in_line`, `migrate`, `open_database`, the
table classes in `tables`.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from app.storage.engine import (
    DEFAULT_BUSY_TIMEOUT_SECONDS,
    first_in_line,
    make_engine,
    normalise_url,
    reading,
)

__all__ = ["first_in_line", "make_engine", "migrate", "normalise_url", "open_database", "reading"]

_MIGRATIONS = Path(__file__).parent / "migrations"
_migrate_lock = threading.Lock()
# Any constant works: every smsdesk process that migrates one PostgreSQL database waits on it.
_PG_MIGRATION_LOCK = 7_301_955_321


def alembic_config() -> Config:
    """The Alembic configuration, without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to call from several processes at once."""
    config = alembic_config()
    with _migrate_lock, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def open_database(url: str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_SECONDS) -> Engine:
    """An engine for `url` with the schema migrated to the latest revision."""
    engine = make_engine(url, busy_timeout=busy_timeout)
    migrate(engine)
    return engine
