"""The embedded execution engine: jobs live in the database, asyncio workers run them.

Jobs of one key (one conversation) run one at a time in id order; different keys run in
parallel. A job is claimed by moving it to `running` in its own transaction, so a crash leaves
it `running`, and `recover()` at start-up puts it back: handlers are written to be safe to run
again (every effect they commit is idempotent), which makes "at least once" mean "exactly once".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, bindparam, text, update
from sqlmodel import Session, col, select

from app import log
from app.jobs import NotYet
from app.storage.messages import now
from app.storage.tables import Job
from app.storage.types import UtcDateTime

if TYPE_CHECKING:
    from app.jobs.heartbeat import Heartbeat

Handler = Callable[[dict[str, Any]], None]
Periodic = Callable[[], int]

_READY_SQL = """
    SELECT j.id FROM jobs j
    WHERE j.state = 'pending' AND j.run_after <= :now{key_filter}
      AND NOT EXISTS (
        SELECT 1 FROM jobs e
        WHERE e.key = j.key AND e.id < j.id AND e.state IN ('pending', 'running')
      )
      AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.key = j.key AND r.state = 'running')
    ORDER BY j.priority DESC, j.id
    LIMIT 1
    """
_logger = log.get_logger("jobs")


@dataclass
class InProcessEngine:
    """Runs jobs from the `jobs` table with `workers` asyncio tasks in this process."""

    engine: Engine
    handlers: dict[str, Handler]
    workers: int = 4
    periodic: Iterable[Periodic] = ()
    """Called about once a second (e.g. releasing scheduled sends whose time has come)."""
    poll_seconds: float = 0.5
    yield_to: Callable[[], bool] | None = None
    """While this says the process is busy answering requests, workers wait before taking the
    next job (at most `max_yield_seconds`): acknowledging a text comes before processing it."""
    max_yield_seconds: float = 0.05
    max_attempts: int = 5
    heartbeat: Heartbeat | None = None
    """Written while `run` runs (this process runs jobs): /healthz reads it."""
    node: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    kinds: frozenset[str] | None = None
    """Only these job kinds (None: all); the server's bridge leaves the AI's jobs to its child."""
    live_nodes: tuple[str, ...] = ()
    """Other processes whose running jobs are not orphans (the worker child's parent)."""
    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _orphans: set[int] = field(default_factory=set)
    """Jobs this engine ran but whose outcome it could not record (the database was away)."""

    def recover(self) -> int:
        """Put back jobs a dead process left running (embedded mode has one process, apart
        from the server running jobs while its worker child starts: `live_nodes`)."""
        with Session(self.engine) as session:
            result = session.exec(
                update(Job)
                .where(col(Job.state) == "running", col(Job.locked_by).not_in(self.live_nodes))
                .values(state="pending", locked_by=None, locked_at=None)
            )
            session.commit()
            return int(result.rowcount or 0)

    def recover_orphans(self) -> int:
        """Put back the jobs whose outcome could not be recorded, to run them again."""
        if not self._orphans:
            return 0
        orphans = list(self._orphans)
        with Session(self.engine) as session:
            result = session.exec(
                update(Job)
                .where(col(Job.id).in_(orphans), col(Job.state) == "running")
                .where(col(Job.locked_by) == self.node)
                .values(state="pending", locked_by=None, locked_at=None)
            )
            session.commit()
        self._orphans.difference_update(orphans)
        return int(result.rowcount or 0)

    def claim(self, key: str | None = None) -> Job | None:
        """Take the next runnable job (of `key` only, when given), or None."""
        with Session(self.engine, expire_on_commit=False) as session:
            key_filter = " AND j.key = :key" if key is not None else ""
            if self.kinds is not None:  # internal constants, never input: safe to inline
                key_filter += " AND j.kind IN ({})".format(", ".join(f"'{k}'" for k in self.kinds))
            sql = _READY_SQL.format(key_filter=key_filter)
            if session.get_bind().dialect.name == "postgresql":
                sql = sql.replace("LIMIT 1", "LIMIT 1 FOR UPDATE SKIP LOCKED")
            params: dict[str, Any] = {"now": now()} if key is None else {"now": now(), "key": key}
            # Bound through the column's type: SQLite compares the stored text, and a raw
            # datetime would be spelled differently (an instant on a whole second never ran).
            query = text(sql).bindparams(bindparam("now", type_=UtcDateTime()))
            row = session.execute(query, params).first()
            if row is None:
                session.rollback()
                return None
            job = session.exec(select(Job).where(Job.id == row[0])).one()
            job.state, job.locked_by, job.locked_at = "running", self.node, now()
            job.attempts += 1
            session.add(job)
            session.commit()
            return job

    def finish(self, job: Job, error: BaseException | None = None) -> None:
        """Record a job's outcome: done, retried later with backoff, or failed for good."""
        with Session(self.engine) as session:
            stored = session.get(Job, job.id)
            if stored is None:
                return
            stored.locked_by, stored.locked_at = None, None
            if error is None:
                stored.state = "done"
            elif isinstance(error, NotYet):
                # Waiting (for the AI to load) is not failing: the attempt does not count.
                stored.state, stored.attempts = "pending", max(0, stored.attempts - 1)
                stored.run_after = now() + timedelta(seconds=error.seconds)
            else:
                stored.last_error = "".join(traceback.format_exception(error))[-4000:]
                retry = stored.attempts < self.max_attempts
                stored.state = "pending" if retry else "failed"
                stored.run_after = now() + timedelta(seconds=min(60, 2**stored.attempts))
                _logger.warning(
                    "jobs.failed", kind=stored.kind, job=stored.id, retry=retry, error=repr(error)
                )
            session.add(stored)
            session.commit()

    def run_one(self, key: str | None = None) -> bool:
        """Claim and run one job (of `key` only, when given) in this thread; False when nothing
        was runnable."""
        job = self.claim(key)
        if job is None:
            return False
        error: Exception | None = None
        try:
            self.handlers[job.kind](job.payload)
        except Exception as exc:  # a handler's failure is recorded and retried, never lost
            error = exc
        try:
            self.finish(job, error)
        except Exception:
            assert job.id is not None
            self._orphans.add(job.id)  # the ticker puts it back once the database answers
            raise
        if isinstance(error, NotYet):
            self._wake_in(error.seconds)
        return True

    def _wake_in(self, seconds: float) -> None:
        """Wake the workers when a job that had to wait may run (thread-safe): a text held by
        the send pacer for 50 ms must not sleep out the whole idle poll."""
        if self._loop is not None and self._wake is not None and seconds < self.poll_seconds:
            wake = self._wake
            self._loop.call_soon_threadsafe(self._loop.call_later, seconds, wake.set)

    def drain(self, limit: int = 10_000) -> int:
        """Run jobs until none is runnable (tests and one-shot runs); returns how many ran."""
        count = 0
        while count < limit and self.run_one():
            count += 1
        return count

    def notify(self) -> None:
        """Wake the workers now (thread-safe): new work was committed."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def is_ready(self) -> bool:
        """Whether the workers run (in this process)."""
        return self._wake is not None

    async def run(self, stop: asyncio.Event) -> None:
        """Run workers and periodic tasks until `stop` is set."""
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        recovered = await asyncio.to_thread(self.recover)
        if recovered:
            _logger.info("jobs.recovered", count=recovered)
        if self.heartbeat is not None:
            await asyncio.to_thread(self.heartbeat.try_beat)
        tasks = [asyncio.create_task(self._worker(stop)) for _ in range(self.workers)]
        tasks.append(asyncio.create_task(self._ticker(stop)))
        await stop.wait()
        # Let the jobs and periodic tasks in flight end (their threads would otherwise go on
        # using the database after it is closed), then cancel whatever is still busy.
        self._wake.set()
        _done, busy = await asyncio.wait(tasks, timeout=5.0)
        for task in busy:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.heartbeat is not None:
            await asyncio.to_thread(self.heartbeat.stop)

    async def _worker(self, stop: asyncio.Event) -> None:
        assert self._wake is not None
        while not stop.is_set():
            await self._give_way()
            try:
                if await asyncio.to_thread(self.run_one):
                    continue
            except Exception as exc:  # the database is away: keep the worker, try again later
                _logger.error("jobs.worker_failed", error=repr(exc))
                await asyncio.sleep(self.poll_seconds * 4)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def _give_way(self) -> None:
        if self.yield_to is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_yield_seconds
        while self.yield_to() and loop.time() < deadline:
            await asyncio.sleep(0.001)

    async def _ticker(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            beat = () if self.heartbeat is None else (self.heartbeat.try_beat,)
            for task in (self.recover_orphans, *beat, *self.periodic):
                try:
                    if await asyncio.to_thread(task):
                        self.notify()
                except Exception as exc:  # a periodic task must never stop the engine
                    _logger.error("jobs.periodic_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
