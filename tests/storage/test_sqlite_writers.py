"""SQLite writers queue on a lock file (woken at once) instead of SQLite's polling back-off.

How much sooner is measured by bench/webhook_ingress.py, not asserted here."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import text

from app.storage import make_engine


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
