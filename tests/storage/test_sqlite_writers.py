"""SQLite writers queue on a lock file (woken at once) instead of SQLite's polling back-off.

How much sooner is measured by bench/webhook_ingress.py, not asserted here."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from app.storage import first_in_line, make_engine
from tests.helpers import eventually


def test_a_waiting_writer_starts_as_soon_as_the_lock_is_free(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    assert (tmp_path / "db.sqlite.writer-lock").exists()
    started = threading.Event()
    waited: list[float] = []

    def second_writer() -> None:
        started.set()
        t0 = time.monotonic()
        with engine.begin() as connection:
            waited.append(time.monotonic() - t0)
            connection.execute(text("INSERT INTO t VALUES (2)"))

    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
        thread = threading.Thread(target=second_writer)
        thread.start()
        started.wait()
        time.sleep(0.3)
        assert waited == []  # still queued behind the open write transaction
    thread.join(timeout=10)
    assert len(waited) == 1  # it went ahead once the first writer committed
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 2
    engine.dispose()


def _flock_waiters(path: Path) -> int:
    """How many `flock` requests wait on `path` (Linux lists them in /proc/locks as `->`)."""
    inode = path.stat().st_ino
    lines = Path("/proc/locks").read_text().splitlines()
    return sum(1 for line in lines if "->" in line and line.split()[-3].endswith(f":{inode}"))


def _gate_taken(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux's /proc/locks")
def test_a_first_in_line_writer_goes_before_background_writers_queued_earlier(
    tmp_path: Path,
) -> None:
    """An acknowledgement's write waits for the transaction in progress, never for workers."""
    database = tmp_path / "db.sqlite"
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (who TEXT)"))
    lock = Path(f"{database}.writer-lock")
    order: list[str] = []

    def write(who: str, on: Engine) -> None:
        with on.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (:who)"), {"who": who})
            order.append(who)

    with engine.begin() as connection:  # a worker's transaction in progress
        connection.execute(text("INSERT INTO t VALUES ('in progress')"))
        workers = [threading.Thread(target=write, args=(f"worker {i}", engine)) for i in range(3)]
        for thread in workers:
            thread.start()
        eventually(lambda: _flock_waiters(lock) == 3)  # three workers queued
        webhook = threading.Thread(target=write, args=("webhook", first_in_line(engine)))
        webhook.start()
        eventually(lambda: _gate_taken(Path(f"{database}.writer-gate")))  # the webhook announced
    for thread in [*workers, webhook]:
        thread.join(timeout=30)
    assert order[0] == "webhook", order
    assert sorted(order[1:]) == ["worker 0", "worker 1", "worker 2"]
    engine.dispose()
