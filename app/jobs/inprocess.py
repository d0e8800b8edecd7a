"""The embedded execution engine: jobs live in the database, asyncio workers run them.

Jobs of one key (one conversation) run one at a time in id order; different keys run in
parallel. A job is claimed by moving it to `running` in its own transaction, so a crash leaves
it `running`, and `recover()` at start-up puts it back: handlers are written to be safe to run
again (every effect they commit is idempotent), which makes "at least once" mean "exactly once".

A worker claims a batch: up to `batch_size` runnable jobs, each the head of its own key, in one
transaction, runs them one after the other, and records their outcomes in one transaction
(issue 15: a text cost a claim commit and a finish commit of its own, about a fifth of its
processing). A handler with a `prepare` method reads its jobs of the batch together first (the
AI layer encodes their texts in one model call). A failing job is recorded as failing; the
others of its batch run and are recorded as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import threading
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

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


@runtime_checkable
class Preparing(Protocol):
    """A handler that can read several of its jobs together before running them one by one."""

    def __call__(self, payload: dict[str, Any]) -> None: ...

    def prepare(
        self, payloads: Sequence[dict[str, Any]]
    ) -> contextlib.AbstractContextManager[object]:
        """Work shared by these payloads' runs, kept while the context is open (an
        optimisation only: each run must give the same outcome without it)."""
        ...


_READY_SQL = """
    SELECT j.id FROM jobs j
    WHERE j.state = 'pending' AND j.run_after <= :now{key_filter}
      AND NOT EXISTS (
        SELECT 1 FROM jobs e
        WHERE e.key = j.key AND e.id < j.id AND e.state IN ('pending', 'running')
      )
      AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.key = j.key AND r.state = 'running')
    ORDER BY j.priority DESC, j.id
    LIMIT :limit
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
    batch_size: int = 8
    """Jobs a worker claims at once (distinct keys, each its key's head). Larger batches
    amortise more, but a STOP that arrives meanwhile waits for a worker to finish one: at about
    25 ms a text, 8 keeps that wait near 200 ms at worst with every worker busy."""
    heartbeat: Heartbeat | None = None
    """Written while `run` runs (this process runs jobs): /healthz reads it."""
    node: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    kinds: frozenset[str] | None = None
    """Only these job kinds (None: all); the server's bridge leaves the AI's jobs to its child."""
    live_nodes: tuple[str, ...] = ()
    """Other processes whose running jobs are not orphans (the worker child's parent)."""
    switch_interval: float | None = 0.001
    """While the workers run: how long a thread may hold the GIL when another wants it (None:
    Python's 5 ms). The encoder's forward pass gives the GIL back between its ~100 operations
    and waits to take it again after each: behind workers busy with database code, the 5 ms
    default turned a 5 ms pass into tens of milliseconds."""
    one_at_a_time: frozenset[str] = frozenset()
    """Kinds whose batches this process runs one at a time, whatever `workers` says: work
    bound by this process's CPU (the local AI). Several such threads only take turns at the
    GIL, and one holding SQLite's write lock then waits for it: measured at 100 texts/s, four
    threads held the lock for 11 ms at p99 and kept the webhooks' acknowledgements waiting
    (p99 36 ms; one thread: 13 ms, and the backlog drained sooner). I/O-bound jobs (sends, an
    LLM's answers) still run `workers` at a time."""
    _cpu: threading.Lock = field(default_factory=threading.Lock)
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
        jobs = self.claim_batch(1, key=key)
        return jobs[0] if jobs else None

    def claim_batch(self, limit: int, *, key: str | None = None) -> list[Job]:
        """Take up to `limit` runnable jobs in one transaction, highest priority first.

        Only a key's head (no earlier job of the key pending or running, none running) is
        runnable, so the jobs taken have distinct keys and per-key order holds.
        """
        with Session(self.engine, expire_on_commit=False) as session:
            key_filter = " AND j.key = :key" if key is not None else ""
            if self.kinds is not None:  # internal constants, never input: safe to inline
                key_filter += " AND j.kind IN ({})".format(", ".join(f"'{k}'" for k in self.kinds))
            sql = _READY_SQL.format(key_filter=key_filter)
            if session.get_bind().dialect.name == "postgresql":
                sql = sql.replace("LIMIT :limit", "LIMIT :limit FOR UPDATE SKIP LOCKED")
            params: dict[str, Any] = {"now": now(), "limit": max(1, limit)}
            if key is not None:
                params["key"] = key
            # Bound through the column's type: SQLite compares the stored text, and a raw
            # datetime would be spelled differently (an instant on a whole second never ran).
            query = text(sql).bindparams(bindparam("now", type_=UtcDateTime()))
            ids = [row[0] for row in session.execute(query, params)]
            if not ids:
                session.rollback()
                return []
            found = session.exec(select(Job).where(col(Job.id).in_(ids))).all()
            order = {job_id: index for index, job_id in enumerate(ids)}
            jobs = sorted(found, key=lambda job: order[job.id])
            at = now()
            for job in jobs:
                job.state, job.locked_by, job.locked_at = "running", self.node, at
                job.attempts += 1
                session.add(job)
            session.commit()
            return jobs

    def finish(self, job: Job, error: BaseException | None = None) -> None:
        """Record a job's outcome: done, retried later with backoff, or failed for good."""
        self.finish_batch([(job, error)])

    def finish_batch(self, outcomes: Sequence[tuple[Job, BaseException | None]]) -> None:
        """Record several jobs' outcomes in one transaction (see `finish`)."""
        with Session(self.engine) as session:
            ids = [job.id for job, _ in outcomes]
            stored_by_id = {
                stored.id: stored
                for stored in session.exec(select(Job).where(col(Job.id).in_(ids))).all()
            }
            for job, error in outcomes:
                stored = stored_by_id.get(job.id)
                if stored is not None:
                    self._record(stored, error)
                    session.add(stored)
            session.commit()

    def _record(self, stored: Job, error: BaseException | None) -> None:
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

    def run_one(self, key: str | None = None) -> bool:
        """Claim and run one job (of `key` only, when given) in this thread; False when nothing
        was runnable."""
        job = self.claim(key)
        if job is None:
            return False
        self._run_claimed([job])
        return True

    def run_batch(self, limit: int | None = None) -> int:
        """Claim up to `limit` (default `batch_size`) jobs of distinct keys and run them in
        this thread, in the order claimed; how many ran (0: nothing was runnable)."""
        jobs = self.claim_batch(self.batch_size if limit is None else limit)
        if jobs:
            self._run_claimed(jobs)
        return len(jobs)

    def _run_claimed(self, jobs: Sequence[Job]) -> None:
        recorded: set[int | None] = set()
        try:
            outcomes: list[tuple[Job, BaseException | None]] = []
            with self._turn(job.kind for job in jobs), self._prepared(jobs):
                for job in jobs:
                    error: Exception | None = None
                    try:
                        self.handlers[job.kind](job.payload)
                    except Exception as exc:  # a handler's failure is recorded, never lost
                        error = exc
                    if isinstance(error, NotYet):
                        # Recorded now, not with the batch: what it waits for (the AI's
                        # warm-up) may end meanwhile, and that wake-up moves pending jobs only.
                        self.finish_batch([(job, error)])
                        recorded.add(job.id)
                        if error.arrived is not None and error.arrived():
                            self._runnable_now(job)  # its wake-up came while it ran
                        else:
                            self._wake_in(error.seconds)
                    else:
                        outcomes.append((job, error))
            if outcomes:
                self.finish_batch(outcomes)
                recorded.update(job.id for job, _ in outcomes)
        finally:
            # The database went away before these were recorded (or run): the ticker puts them
            # back once it answers.
            self._orphans.update(j.id for j in jobs if j.id not in recorded and j.id is not None)

    def call(self, kind: str, payload: dict[str, Any]) -> None:
        """Run one job's handler in this thread (one at a time for `one_at_a_time` kinds):
        for a queue that hands this engine's handlers their jobs one by one (procrastinate)."""
        with self._turn([kind]):
            self.handlers[kind](payload)

    def _turn(self, kinds: Iterable[str]) -> AbstractContextManager[object]:
        """This process's one turn at the CPU when any of `kinds` is CPU-bound, else nothing."""
        bound = any(kind in self.one_at_a_time for kind in kinds)
        return self._cpu if bound else contextlib.nullcontext()

    def _prepared(self, jobs: Sequence[Job]) -> contextlib.ExitStack:
        """The shared preparation of each handler that offers one, for its jobs of the batch."""
        stack = contextlib.ExitStack()
        payloads: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for job in jobs:
            payloads[job.kind].append(job.payload)
        for kind, batch in payloads.items():
            handler = self.handlers.get(kind)
            if len(batch) < 2 or not isinstance(handler, Preparing):
                continue
            try:
                stack.enter_context(handler.prepare(batch))
            except Exception as exc:  # only an optimisation: the jobs run without it
                _logger.warning("jobs.prepare_failed", kind=kind, error=repr(exc))
        return stack

    def _runnable_now(self, job: Job) -> None:
        """Make a job that was put back to wait runnable at once, and wake the workers."""
        with Session(self.engine) as session:
            session.exec(
                update(Job)
                .where(col(Job.id) == job.id, col(Job.state) == "pending")
                .values(run_after=now())
            )
            session.commit()
        self.notify()

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
        interval = sys.getswitchinterval()
        if self.switch_interval is not None:
            sys.setswitchinterval(min(interval, self.switch_interval))
        try:
            await self._run(stop)
        finally:
            sys.setswitchinterval(interval)

    async def _run(self, stop: asyncio.Event) -> None:
        assert self._wake is not None
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
                if await asyncio.to_thread(self.run_batch):
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
