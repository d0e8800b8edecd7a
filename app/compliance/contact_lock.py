"""The per-number lock that orders an opt-out with every hand-off to the provider (IN-2, TIME-3).

A send takes it around its last consent check and the provider call; recording an opt-out
takes it around the ledger commit. So once an opt-out is committed, no text for that (brand,
number) can still be on its way: a send that checked consent before the opt-out has reached
the provider before the opt-out's commit, and a send that checks after it sees the opt-out.

The lock is not the database's write lock. SQLite has one writer for the whole database: holding
it during a provider call (hundreds of milliseconds, seconds on a retry) would stop every
webhook. Here the trade-off is narrower: an opt-out waits for at most the one provider call in
flight to the same number (and, rarely, one to another number sharing its lock bucket).

- SQLite file: `flock` on one of `BUCKETS` files beside the database. The kernel queues the
  waiters, across threads (each acquisition opens its own descriptor) and processes (the
  server and its worker process), and frees the lock when a process dies mid-send.
- PostgreSQL: a transaction-level advisory lock on a connection of its own, released when that
  transaction ends or the connection drops, so it holds across worker processes and hosts.
- SQLite in memory (one process): a thread lock per bucket.

Always taken before any database transaction of the caller, never inside one: the SQLite write
lock and PostgreSQL's row locks are only ever waited for while holding this, not the reverse.
Re-entrant within a thread (a carrier opt-out recorded by the send that learnt of it).
"""

from __future__ import annotations

import fcntl
import os
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

BUCKETS = 1024
"""SQLite lock files per database: numbers sharing a file only wait for each other's sends."""

_held = threading.local()
_memory_locks = [threading.Lock() for _ in range(BUCKETS)]


def advisory_key(brand: str, phone: str) -> int:
    """The PostgreSQL advisory lock key of one (brand, number)."""
    return zlib.crc32(f"{brand}\x1f{phone}".encode())


def _held_here() -> set[tuple[str, int]]:
    held: set[tuple[str, int]] | None = getattr(_held, "keys", None)
    if held is None:
        held = _held.keys = set()
    return held


def held_by_this_thread(engine: Engine, brand: str, phone: str) -> bool:
    """Whether this thread already holds the lock of (brand, phone)."""
    return _identity(engine, brand, phone) in _held_here()


def _identity(engine: Engine, brand: str, phone: str) -> tuple[str, int]:
    key = advisory_key(brand, phone)
    if engine.dialect.name == "postgresql":
        return (str(engine.url), key)
    return (str(engine.url), key % BUCKETS)


@contextmanager
def contact_lock(engine: Engine, brand: str, phone: str) -> Iterator[None]:
    """Hold the send/opt-out lock of (brand, phone) for the duration of the block."""
    identity = _identity(engine, brand, phone)
    held = _held_here()
    if identity in held:
        yield
        return
    with _acquire(engine, identity[1]):
        held.add(identity)
        try:
            yield
        finally:
            held.discard(identity)


@contextmanager
def _acquire(engine: Engine, key: int) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                connection.rollback()  # ends the transaction: the lock goes with it
        return
    database = engine.url.database
    if database in (None, "", ":memory:"):
        with _memory_locks[key]:
            yield
        return
    directory = Path(f"{database}.contact-locks")
    directory.mkdir(exist_ok=True)
    fd = os.open(directory / f"{key:04d}", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the flock
