"""Database engines: SQLite (WAL, embedded default) or PostgreSQL, chosen by URL."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool

from app.errors import ConfigurationError
from app.storage.types import SQLITE_LOWER


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def normalise_url(url: str) -> str:
    """Pin PostgreSQL URLs to the psycopg 3 driver (`postgresql://` would pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


DEFAULT_BUSY_TIMEOUT_SECONDS = 5.0


def make_engine(
    url: str, *, echo: bool = False, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_SECONDS
) -> Engine:
    """An engine for `url`; SQLite files get WAL, a busy timeout and serialised writers.

    `busy_timeout` bounds how long a SQLite transaction waits for the write lock (ours or
    another process's) before failing with "database is locked" (answered 503).
    """
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, echo=echo, busy_timeout=busy_timeout)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)
    raise ConfigurationError(f"unsupported database URL {parsed.render_as_string()!r}")


_LOCKED = "database is locked (waited SMSDESK_SQLITE_BUSY_TIMEOUT_SECONDS)"


READ_ONLY = "smsdesk_read_only"
"""Execution option of `reading()` engines: their transactions only read."""


def reading(engine: Engine) -> Engine:
    """The same database for transactions that only read.

    On SQLite they begin DEFERRED, outside the writers' queue: under WAL a reader never waits
    for a writer, and a console flood of page views no longer queues for the write lock that
    webhooks need. Do not write in them: on SQLite a write there may fail at once ("database is
    locked") where a queued writer would have waited its turn. On PostgreSQL nothing changes.
    """
    return engine.execution_options(**{READ_ONLY: True})


FIRST_IN_LINE = "smsdesk_first_in_line"
"""Execution option of `first_in_line()` engines: their write transactions go next."""


def first_in_line(engine: Engine) -> Engine:
    """The same database for the writes that acknowledge a provider's webhook.

    On SQLite a background writer (the job workers) waiting for the write lock steps aside for
    them once per transaction, so an acknowledgement waits for at most the one transaction in
    progress, not for a queue of workers that the kernel wakes in any order (issue 15: the
    webhook writer waited 7 ms at the median and 24 ms at p99 behind four worker threads). On
    PostgreSQL nothing changes.
    """
    return engine.execution_options(**{FIRST_IN_LINE: True})


def _flocked(path: str, operation: int) -> int:
    """An open descriptor of `path` holding `flock(operation)` (closing it releases it)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, operation)
    except BaseException:
        os.close(fd)
        raise
    return fd


class _QueuedWriterConnection(sqlite3.Connection):
    """A connection whose write transactions queue on a lock file before BEGIN IMMEDIATE.

    SQLite's own wait for the write lock is polling (sleeps of 1, 2, 5 ... 100 ms), which a
    busy process that takes the lock again and again wins: the server's webhook writes then
    wait behind the worker's processing for hundreds of milliseconds. `flock` queues writers
    in the kernel and wakes one the moment the lock is free, across threads and processes.

    A first-in-line writer also holds a shared lock on a second file (the gate) from before it
    queues until it commits; a background writer that finds the gate taken once it has the
    write lock gives the lock up, waits for the gate to open and queues again (once: under a
    continuous stream of webhooks the workers still get every other turn).
    """

    lock_path: str | None = None
    gate_path: str | None = None
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT_SECONDS
    _lock_fd: int | None = None
    """Open only while this connection holds the write lock: nothing lingers otherwise."""
    _gate_fd: int | None = None
    """Open only while this connection is a first-in-line writer queueing or writing."""

    def take_write_lock(self, *, first_in_line: bool = False) -> float:
        """Queue for the write lock; returns the seconds left of the busy timeout.

        The wait for `flock` itself cannot be bounded, but every writer ahead in the queue is:
        each gives up at its own deadline (set when it started waiting, so no later than
        ours), so the queue drains by our deadline even while another process holds SQLite's
        lock. What is left of the timeout is all BEGIN IMMEDIATE may then wait.
        """
        deadline = time.monotonic() + self.busy_timeout
        if self.lock_path is None or self._lock_fd is not None:
            return self.busy_timeout
        if first_in_line and self.gate_path is not None:
            self._gate_fd = _flocked(self.gate_path, fcntl.LOCK_SH)
        self._lock_fd = _flocked(self.lock_path, fcntl.LOCK_EX)
        if not first_in_line and self.gate_path is not None and not self._gate_open():
            os.close(self._lock_fd)
            self._lock_fd = None
            os.close(_flocked(self.gate_path, fcntl.LOCK_EX))  # until they have committed
            self._lock_fd = _flocked(self.lock_path, fcntl.LOCK_EX)
        left = deadline - time.monotonic()
        if left <= 0:
            self._release()
        return left

    def _gate_open(self) -> bool:
        assert self.gate_path is not None
        try:
            os.close(_flocked(self.gate_path, fcntl.LOCK_EX | fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        return True

    def _release(self) -> None:
        for name in ("_gate_fd", "_lock_fd"):  # the gate first: no needless step aside
            fd = getattr(self, name)
            setattr(self, name, None)
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


def _sqlite_engine(url: str, database: str | None, *, echo: bool, busy_timeout: float) -> Engine:
    in_memory = database in (None, "", ":memory:")
    # A subclass per engine: the lock file and the timeout belong to this database.
    factory: type[_QueuedWriterConnection] = type(
        "QueuedWriterConnection", (_QueuedWriterConnection,), {"busy_timeout": busy_timeout}
    )
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": busy_timeout, "factory": factory}
    }
    if in_memory:
        kwargs["poolclass"] = StaticPool
    else:
        Path(str(database)).parent.mkdir(parents=True, exist_ok=True)
        factory.lock_path = f"{database}.writer-lock"
        factory.gate_path = f"{database}.writer-gate"
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
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()
        dbapi_connection.create_function(SQLITE_LOWER, 1, _lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            # A writer before us on this connection may have left a shorter timeout behind.
            connection.exec_driver_sql(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            connection.exec_driver_sql("BEGIN")
            return
        # BEGIN IMMEDIATE takes the write lock up front: a read-then-append of the consent
        # ledger can never interleave with another writer (readers still proceed under WAL).
        driver = connection.connection.driver_connection
        left = driver.take_write_lock(
            first_in_line=bool(connection.get_execution_options().get(FIRST_IN_LINE))
        )
        if left <= 0:
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(_LOCKED))
        # The time spent queueing counts against the timeout: the whole wait stays bounded.
        connection.exec_driver_sql(f"PRAGMA busy_timeout={max(1, int(left * 1000))}")
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
