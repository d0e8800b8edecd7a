"""Worker heartbeats: each process that runs jobs writes one row, /healthz reads them.

The server cannot tell from inside itself whether jobs are being run: in embedded mode they run
in a child process, in scale-out mode in `smsdesk worker` processes elsewhere (or nowhere). So
every process that runs jobs, in every mode, keeps a row in `worker_heartbeats` fresh (and says
how its AI layer stands); a process that stops cleanly deletes its row, a killed one's row goes
stale after `STALE_SECONDS`.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from app import log
from app.storage import reading
from app.storage.messages import now
from app.storage.tables import WorkerHeartbeat

BEAT_SECONDS = 5.0
"""A live worker rewrites its row at least this often (sooner when its AI state changes)."""
STALE_SECONDS = 20.0
"""A row older than this belongs to a worker that is gone (or stuck)."""
FORGET_AFTER = timedelta(hours=1)
"""Rows of long-dead workers are removed by the live ones."""
_logger = log.get_logger("jobs")


@dataclass
class Heartbeat:
    """The heartbeat of this worker process."""

    engine: Engine
    mode: str
    """The execution mode this worker runs jobs for (inprocess | procrastinate)."""
    ai: Callable[[], str]
    """How the AI layer of this process stands: off | loading | ready | failed: <reason>."""
    node: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    _started: datetime | None = None
    _last: tuple[str, float] | None = None

    def beat(self) -> bool:
        """Write the row when it is due (or the AI state changed); whether it was written."""
        ai = self.ai()
        moment = time.monotonic()
        fresh = self._last is not None and moment - self._last[1] < BEAT_SECONDS
        if fresh and self._last is not None and self._last[0] == ai:
            return False
        at = now()
        self._started = self._started or at
        with Session(self.engine) as session:
            row = session.get(WorkerHeartbeat, self.node)
            if row is None:
                row = WorkerHeartbeat(
                    node=self.node, mode=self.mode, ai=ai, started_at=self._started, beat_at=at
                )
                session.execute(
                    delete(WorkerHeartbeat).where(col(WorkerHeartbeat.beat_at) < at - FORGET_AFTER)
                )
            row.ai, row.beat_at, row.mode = ai, at, self.mode
            session.add(row)
            session.commit()
        self._last = (ai, moment)
        return True

    def try_beat(self) -> int:
        """`beat`, logging (not raising) a database error: the next tick tries again."""
        try:
            self.beat()
        except Exception as exc:
            _logger.warning("jobs.heartbeat_failed", error=repr(exc))
        return 0  # the ticker wakes the workers when a periodic task returns work done

    def stop(self) -> None:
        """This worker stops: remove its row at once (/healthz stops counting it)."""
        try:
            with Session(self.engine) as session:
                session.execute(
                    delete(WorkerHeartbeat).where(col(WorkerHeartbeat.node) == self.node)
                )
                session.commit()
        except Exception as exc:
            _logger.warning("jobs.heartbeat_failed", error=repr(exc))
        self._last = None


def live_workers(engine: Engine, *, mode: str) -> list[WorkerHeartbeat]:
    """The workers of `mode` whose heartbeat is fresh."""
    cutoff = now() - timedelta(seconds=STALE_SECONDS)
    with Session(reading(engine)) as session:  # a health probe never queues for the write lock
        query = select(WorkerHeartbeat).where(
            WorkerHeartbeat.mode == mode, col(WorkerHeartbeat.beat_at) >= cutoff
        )
        return list(session.exec(query).all())
