"""Database engines: SQLite (WAL, embedded default) or PostgreSQL, chosen by URL."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from app.errors import ConfigurationError


def normalise_url(url: str) -> str:
    """Pin PostgreSQL URLs to the psycopg 3 driver (`postgresql://` would pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for `url`; SQLite files get WAL, a busy timeout and serialised writers."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, echo=echo)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)
    raise ConfigurationError(f"unsupported database URL {parsed.render_as_string()!r}")


class _QueuedWriterConnection(sqlite3.Connection):
    """A connection whose write transactions queue on a lock file before BEGIN IMMEDIATE.

    SQLite's own wait for the write lock is polling (sleeps of 1, 2, 5 ... 100 ms), which a
    busy process that takes the lock again and again wins: the server's webhook writes then
    wait behind the worker's processing for hundreds of milliseconds. `flock` queues writers
    in the kernel and wakes one the moment the lock is free, across threads and processes.
    """

    lock_path: str | None = None
    _lock_fd: int | None = None
    """Open only while this connection holds the write lock: nothing lingers otherwise."""

    def take_write_lock(self) -> None:
        if self.lock_path is None or self._lock_fd is not None:
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd

    def _release(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor releases the flock

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()


def _sqlite_engine(url: str, database: str | None, *, echo: bool) -> Engine:
    in_memory = database in (None, "", ":memory:")
    # A subclass per engine: the lock file belongs to this database.
    factory: type[_QueuedWriterConnection] = type(
        "QueuedWriterConnection", (_QueuedWriterConnection,), {}
    )
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": 30, "factory": factory}
    }
    if in_memory:
        kwargs["poolclass"] = StaticPool
    else:
        Path(str(database)).parent.mkdir(parents=True, exist_ok=True)
        factory.lock_path = f"{database}.writer-lock"
    engine = create_engine(url, echo=echo, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # BEGIN IMMEDIATE takes the write lock up front: a read-then-append of the consent
        # ledger can never interleave with another writer (readers still proceed under WAL).
        connection.connection.driver_connection.take_write_lock()
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
