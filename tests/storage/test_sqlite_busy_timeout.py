"""A SQLite write lock held by another program: writers give up after the busy timeout (the
app answers 503, which a provider retries), however many are queued; readers never wait."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from app.storage import make_engine, reading

WRITERS = 6
HANG = 60.0
"""A bound reached only if a writer waits without limit (the old behaviour)."""


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}", busy_timeout=0.2)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
    yield engine
    engine.dispose()


@pytest.fixture
def held(tmp_path: Path) -> Iterator[None]:
    """Another program (not our lock file's queue) holds SQLite's write lock."""
    holder = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    yield
    holder.execute("ROLLBACK")
    holder.close()


def test_queued_writers_all_give_up_instead_of_waiting_in_turn(engine: Engine, held: None) -> None:
    outcomes: list[str] = []

    def write() -> None:
        try:
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO t VALUES (2)"))
            outcomes.append("written")
        except OperationalError as exc:
            outcomes.append("locked" if "locked" in str(exc) else repr(exc))

    threads = [threading.Thread(target=write) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=HANG)
    assert outcomes == ["locked"] * WRITERS


def test_a_reader_is_not_queued_behind_a_held_write_lock(engine: Engine, held: None) -> None:
    with reading(engine).connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 1


def test_writing_works_again_once_the_lock_is_released(engine: Engine, tmp_path: Path) -> None:
    holder = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(OperationalError), engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (2)"))
    holder.execute("ROLLBACK")
    holder.close()
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (3)"))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 2
