"""Scale-out execution: procrastinate owns the queue on PostgreSQL; `smsdesk worker` runs it.

One queue per mode. In this mode (SMSDESK_EXECUTION_MODE=procrastinate) the `jobs` table is not
used: every job is a procrastinate job of one task, `smsdesk.run_job(kind, payload)`, and
procrastinate does what the embedded engine does by hand, through its public API:

* Atomic with the work that creates it. `enqueue(session, ...)` (app.storage.messages) defers
  the job on the caller's own connection (`Task.configure(connection=...)`, procrastinate >= 3.7:
  "defer within an existing transaction"): the text and its processing job commit together or
  neither, so a crash between cannot lose a text, and no relay or sweeper is needed. The insert's
  NOTIFY reaches the listening workers at commit.
* Per-conversation order: `lock=key`. Procrastinate runs one job of a lock at a time, the
  earliest first; a job being retried keeps its place and holds its lock.
* Priorities: `priority=` (STOP/HELP/START overtake other conversations' backlogs). Procrastinate
  also lets a higher priority overtake *earlier* jobs of the same lock, which the embedded
  engine never does (a STOP processed before the customer's earlier YES would let the YES
  subscribe them again). So a job its caller marks `after_waiting` (an earlier job of its lock
  may wait: `enqueue`) is deferred without priority: it overtakes other conversations only.
* Scheduling: `schedule_at` (a job's `run_after`); scheduled sends are released by a periodic
  task (`app.periodic`, one run per second across all workers, `queueing_lock`).
* Retries: a retry strategy (`JobRetry`). `NotYet` (the AI is loading, the send pacer holds a
  text) is retried later without counting as a failure; other errors back off exponentially and
  fail for good after `max_attempts` failures.
* Stalled jobs: a worker killed mid-job leaves its job `doing`; the periodic task
  `smsdesk.retry_stalled_jobs` (procrastinate's documented recipe: `get_stalled_jobs` +
  `retry_job`) puts jobs of workers whose heartbeat stopped for `stalled_seconds` back to
  `todo`, in place (same id, same lock). Handlers are idempotent: the job takes effect once.

`smsdesk serve` in this mode runs no jobs; it only makes sure procrastinate's schema exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

import procrastinate
from procrastinate import exceptions as pq_errors
from procrastinate.jobs import Job as PqJob
from procrastinate.jobs import Status
from procrastinate.schema import SchemaManager
from sqlalchemy import Engine, Pool, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from app import log
from app.errors import ConfigurationError
from app.jobs import NotYet
from app.jobs.inprocess import Handler, InProcessEngine
from app.jobs.supervisor import ChildLink, Supervisor
from app.storage.messages import JobRequest, now, route_jobs

QUEUE = "smsdesk"
RUN_JOB = "smsdesk.run_job"
RETRY_STALLED = "smsdesk.retry_stalled_jobs"
PERIODIC = "smsdesk.periodic"
# Any constant works: every smsdesk process on one database agrees on it.
_SCHEMA_LOCK = 7_301_955_322
_PENDING = "smsdesk.procrastinate_jobs"
"""`Session.info` key of the jobs a transaction defers at its commit."""
_PHONE = re.compile(r"\+\d{6,15}")
_logger = log.get_logger("jobs")
T = TypeVar("T")


def libpq_url(url: URL | str) -> str:
    """A libpq connection URL for a SQLAlchemy PostgreSQL URL (`postgresql+psycopg://...`)."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "postgresql":
        raise ConfigurationError(
            "execution_mode 'procrastinate' needs a PostgreSQL database "
            f"(SMSDESK_DATABASE_URL=postgresql://...), not {parsed.get_backend_name()}"
        )
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


class JobRetry(procrastinate.BaseRetryStrategy):
    """When a failed `run_job` runs again: `NotYet` waits without counting as a failure.

    Procrastinate counts every retry in `attempts`, waits included (a text held by the send
    pacer is retried every 50 ms), so failures are counted here, per worker process: a job that
    keeps failing on several workers may get up to `max_attempts` tries on each before it
    fails for good. Erring that way keeps a text rather than dropping it early."""

    def __init__(self, *, max_attempts: int = 5, max_wait_seconds: float = 2.0) -> None:
        self.max_attempts = max_attempts
        self.max_wait_seconds = max_wait_seconds
        """A `NotYet` waits at most this long: the embedded engine wakes texts waiting for the
        AI when it has loaded (`wake_waiting`, the jobs table); here they look again."""
        self._failures: dict[int, int] = {}
        self._lock = threading.Lock()

    def get_retry_decision(
        self, *, exception: BaseException, job: PqJob
    ) -> procrastinate.RetryDecision | None:
        if isinstance(exception, NotYet | pq_errors.JobAborted):
            # Waiting is not failing; a job aborted by a worker's shutdown runs again at once.
            seconds = getattr(exception, "seconds", 0.0)
            wait = timedelta(seconds=min(seconds, self.max_wait_seconds))
            return procrastinate.RetryDecision(retry_at=datetime.now(UTC) + wait)
        with self._lock:
            if len(self._failures) > 10_000:  # a bound: forgotten counts only mean more tries
                self._failures.clear()
            failures = self._failures[job.id or 0] = self._failures.get(job.id or 0, 0) + 1
        retry = failures < self.max_attempts
        _logger.warning(
            "jobs.failed",
            kind=job.task_kwargs.get("kind"),
            job=job.id,
            retry=retry,
            error=repr(exception),
        )
        if not retry:
            return None
        return procrastinate.RetryDecision(retry_in={"seconds": min(60, 2**failures)})


def _forget_pending(session: Session, previous_transaction: SessionTransaction) -> None:
    """A rolled-back transaction defers nothing: its jobs go with its rows (savepoints defer
    theirs at once, so only the whole transaction's rollback concerns these)."""
    if not previous_transaction.nested and _PENDING in session.info:
        session.info[_PENDING] = []


class JobQueue:
    """Defers `run_job` jobs in callers' transactions (any thread): what `enqueue` routes to in
    this mode, in every process that writes to the database (server, workers, command line)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        conninfo = libpq_url(engine.url)
        # Never opened for deferring: a defer given `connection=` runs on that connection;
        # opened lazily (a pool of 2) for `list_jobs`.
        self.app = procrastinate.App(
            connector=procrastinate.SyncPsycopgConnector(conninfo=conninfo, min_size=1, max_size=2)
        )
        self._open = False
        self._schema_ready = False
        self._guard = threading.Lock()

    def defer_in(self, session: Session, job: JobRequest) -> None:
        """Defer `job` in `session`'s transaction: at its commit, with the transaction's other
        jobs in one statement. A webhook batch of 200 texts was 200 round trips, each building
        and logging its job: a tenth of a scale-out acknowledgement's CPU (issue 15)."""
        self.ensure_schema()
        if session.in_nested_transaction():
            # A savepoint may roll back alone (a campaign's failed start): its job goes to the
            # database now, inside the savepoint, and leaves with it.
            self._defer(session, [job])
            return
        session.connection()  # begins the transaction: its rollback (an event) drops the job
        pending: list[JobRequest] | None = session.info.get(_PENDING)
        if pending is None:
            pending = session.info[_PENDING] = []
            event.listen(session, "before_commit", self._defer_pending)
            event.listen(session, "after_soft_rollback", _forget_pending)
        pending.append(job)

    def _defer_pending(self, session: Session) -> None:
        pending: list[JobRequest] = session.info.get(_PENDING) or []
        if pending:
            session.info[_PENDING] = []
            self._defer(session, pending)

    def _defer(self, session: Session, requests: list[JobRequest]) -> None:
        """Defer `requests`, in their order, on the session's connection (one statement)."""
        jobs = [
            PqJob(
                queue=QUEUE,
                lock=job.key,
                queueing_lock=None,
                task_name=RUN_JOB,
                priority=0 if job.after_waiting else job.priority,
                task_kwargs={"kind": job.kind, "payload": job.payload},
                scheduled_at=job.run_after if job.run_after and job.run_after > now() else None,
            )
            for job in requests
        ]
        driver = session.connection().connection.driver_connection
        self.app.job_manager.batch_defer_jobs(jobs=jobs, connection=driver)

    def queued(self, *, key: str | None = None) -> list[PqJob]:
        """The `run_job` jobs waiting or running (of `key` only, when given), through
        procrastinate's `JobManager.list_jobs`."""
        manager = self._opened().job_manager
        return [
            job
            for status in (Status.TODO, Status.DOING)
            for job in manager.list_jobs(task=RUN_JOB, lock=key, status=status.value)
        ]

    def _opened(self) -> procrastinate.App:
        with self._guard:
            if not self._open:
                self.app.open()
                self._open = True
        return self.app

    def ensure_schema(self) -> None:
        """Create procrastinate's tables if absent (once per process; safe when several
        processes start at once)."""
        if self._schema_ready:
            return
        with self.engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
            if not connection.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar():
                # The raw driver runs the multi-statement script in this transaction, unparsed.
                driver = connection.connection.driver_connection
                assert driver is not None
                driver.execute(SchemaManager.get_schema())
                _logger.info("jobs.procrastinate_schema_applied")
        self._schema_ready = True

    def close(self) -> None:
        """Release the pool of `list_jobs`."""
        with self._guard:
            if self._open:
                self.app.close()
                self._open = False


_queues: WeakKeyDictionary[Pool, JobQueue] = WeakKeyDictionary()
_queues_guard = threading.Lock()


def queue_for(engine: Engine) -> JobQueue:
    """The procrastinate queue of `engine`'s database, routed to by `enqueue` from now on."""
    with _queues_guard:
        queue = _queues.get(engine.pool)
        if queue is None:
            queue = _queues[engine.pool] = JobQueue(engine)
            route_jobs(engine, queue)
        return queue


class ProcrastinateEngine:
    """The JobEngine of scale-out mode: procrastinate defers, orders and runs the jobs."""

    def __init__(
        self,
        runner: InProcessEngine,
        *,
        stalled_seconds: float = 30.0,
        max_attempts: int = 5,
        pool_size: int = 10,
    ) -> None:
        self.runner = runner
        """The handlers, the periodic tasks and the heartbeat (its `jobs`-table claim is unused)."""
        self.stalled_seconds = stalled_seconds
        conninfo = libpq_url(runner.engine.url)
        connector = procrastinate.PsycopgConnector(
            conninfo=conninfo, min_size=1, max_size=pool_size
        )
        self.app = procrastinate.App(connector=connector)
        self.retry = JobRetry(max_attempts=max_attempts)
        self.run_job = self.app.task(
            name=RUN_JOB, queue=QUEUE, pass_context=False, retry=self.retry
        )(self._run_job)
        # Every worker runs the periodic deferrer; procrastinate defers one job per tick for
        # all of them, and the queueing lock skips a tick while the last one still waits.
        self.app.periodic(cron="* * * * * *", queueing_lock=PERIODIC)(
            self.app.task(name=PERIODIC, queue=QUEUE)(self._periodic_task)
        )
        self.app.periodic(cron="* * * * * */10", queueing_lock=RETRY_STALLED)(
            self.app.task(name=RETRY_STALLED, queue=QUEUE)(self._retry_stalled_task)
        )
        self.queue = queue_for(runner.engine)
        self._ran = 0
        self._ready = False

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine of the application's tables."""
        return self.runner.engine

    @property
    def handlers(self) -> dict[str, Handler]:
        """The job handlers by kind."""
        return self.runner.handlers

    # -- JobEngine -------------------------------------------------------------------------

    def notify(self) -> None:
        """Nothing to do: a deferred job's NOTIFY wakes the listening workers at commit."""

    def drain(self, limit: int = 10_000) -> int:
        """Run every runnable job in this thread with a procrastinate worker that stops once the
        queue is empty (one-shot runs, tests); how many `run_job` jobs ran. Not from a running
        event loop."""
        self.ensure_schema()
        ran = self._ran
        for periodic in self.runner.periodic:
            periodic()
        self.app.run_worker(
            queues=[QUEUE],
            wait=False,
            concurrency=1,
            install_signal_handlers=False,
            listen_notify=False,
            delete_jobs="successful",
        )
        return self._ran - ran

    def is_ready(self) -> bool:
        """Whether `run` has made sure the queue exists (the workers are `smsdesk worker`
        processes, whose heartbeats /healthz reads)."""
        return self._ready

    async def run(self, stop: asyncio.Event) -> None:
        """What `smsdesk serve` runs in this mode: create procrastinate's schema if needed."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.ensure_schema)
            except Exception as exc:  # the database is away: keep serving, try again
                _logger.error("jobs.schema_failed", error=repr(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=5.0)
                continue
            self._ready = True
            await stop.wait()

    def defer_in(self, session: Session, job: JobRequest) -> None:
        """Defer `job` in `session`'s transaction (what `enqueue` does in this mode)."""
        self.queue.defer_in(session, job)

    def queued(self, *, key: str | None = None) -> list[PqJob]:
        """The `run_job` jobs waiting or running (of `key` only, when given)."""
        return self.queue.queued(key=key)

    def ensure_schema(self) -> None:
        """Create procrastinate's tables if absent."""
        self.queue.ensure_schema()

    def close(self) -> None:
        """Release the deferring pool (the worker's is closed with `open_async`)."""
        self.queue.close()

    # -- workers ---------------------------------------------------------------------------

    async def work(
        self,
        stop: asyncio.Event,
        *,
        concurrency: int,
        name: str | None = None,
        shutdown_graceful_timeout: float = 60.0,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        """Run a procrastinate worker (`concurrency` jobs at once) until `stop`.

        On `stop`, running jobs finish (up to `shutdown_graceful_timeout`), then it returns. A
        worker that fails (procrastinate gives up when the database goes away) is started again.
        """
        async with self.app.open_async():
            await asyncio.to_thread(self.ensure_schema)
            beating = asyncio.create_task(self._beat(stop))
            if on_ready is not None:
                on_ready()
            try:
                while not stop.is_set():
                    worker = asyncio.create_task(
                        self.app.run_worker_async(
                            queues=[QUEUE],
                            name=name or f"{socket.gethostname()}:{os.getpid()}",
                            concurrency=concurrency,
                            install_signal_handlers=False,
                            delete_jobs="successful",
                            shutdown_graceful_timeout=shutdown_graceful_timeout,
                            update_heartbeat_interval=max(0.5, self.stalled_seconds / 3),
                            stalled_worker_timeout=self.stalled_seconds,
                        )
                    )
                    stopped = asyncio.create_task(stop.wait())
                    await asyncio.wait({worker, stopped}, return_when=asyncio.FIRST_COMPLETED)
                    if not worker.done():
                        worker.cancel()  # procrastinate stops gracefully when cancelled
                        await asyncio.gather(worker, return_exceptions=True)
                        break
                    stopped.cancel()
                    _logger.error("worker.failed", error=repr(worker.exception()))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=2.0)
            finally:
                beating.cancel()
                await asyncio.gather(beating, return_exceptions=True)
                if self.runner.heartbeat is not None:
                    await asyncio.to_thread(self.runner.heartbeat.stop)

    async def retry_stalled(self) -> int:
        """Put back the jobs of workers that stopped sending heartbeats."""
        manager = self.app.job_manager
        stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=self.stalled_seconds)
        count = 0
        for job in stalled:
            try:
                await manager.retry_job(job)
            except pq_errors.ConnectorException:
                continue  # another worker dealt with it first
            count += 1
            _logger.warning("jobs.stalled_job_retried", job=job.id, worker=job.worker_id)
        return count

    # -- tasks -----------------------------------------------------------------------------

    async def _run_job(self, kind: str, payload: dict[str, Any]) -> None:
        """The `run_job` task: one handler call, in a thread (the handlers are synchronous)."""
        await _uncancellable(asyncio.to_thread(self.runner.call, kind, payload))
        self._ran += 1

    async def _periodic_task(self, timestamp: int) -> None:
        for periodic in self.runner.periodic:
            try:
                await asyncio.to_thread(periodic)
            except Exception as exc:  # one failing periodic task must not stop the others
                _logger.error("jobs.periodic_failed", error=repr(exc))

    async def _retry_stalled_task(self, timestamp: int) -> None:
        await self.retry_stalled()

    async def _beat(self, stop: asyncio.Event) -> None:
        """This worker's heartbeat (/healthz, `smsdesk campaigns` look for live workers)."""
        heartbeat = self.runner.heartbeat
        if heartbeat is None:
            return
        while not stop.is_set():
            await asyncio.to_thread(heartbeat.try_beat)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)


async def _uncancellable(work: Coroutine[Any, Any, T]) -> T:
    """Await `work`; if cancelled meanwhile, let it finish first, then re-raise.

    A job being run in a thread always records its effects before its task ends, so a worker
    asked to stop never leaves a half-run job behind while it is still alive."""
    future = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({future})
        raise


# -- `smsdesk worker` --------------------------------------------------------------------------


class _RedactPhones(logging.Filter):
    """Procrastinate logs its tasks' arguments: keep phone numbers out."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("procrastinate"):
            record.msg = _PHONE.sub(lambda m: "+…" + m.group()[-4:], record.getMessage())
            record.args = None
        return True


def _worker_process(concurrency: int, link: ChildLink | None = None) -> int:
    """One worker process: the configured runtime and a procrastinate worker."""
    from app.config import get_settings
    from app.runtime import build_runtime

    settings = get_settings()
    log.configure(settings.log_level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_RedactPhones())
    runtime = build_runtime(settings)
    jobs = runtime.jobs
    if not isinstance(jobs, ProcrastinateEngine):
        raise ConfigurationError("smsdesk worker needs SMSDESK_EXECUTION_MODE=procrastinate")
    # The models load beside the jobs: STOP/HELP/START never wait for them (issue 13).
    runtime.start_warm_up()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        # Each running job holds a thread; the heartbeat and periodic tasks need a few more.
        loop.set_default_executor(ThreadPoolExecutor(max_workers=concurrency + 4))
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        if link is None:  # a supervised child leaves Ctrl-C to its parent
            loop.add_signal_handler(signal.SIGINT, stop.set)
        else:
            link.watch(lambda: None)  # only to stop when the parent goes
        _logger.info("worker.started", concurrency=concurrency, pid=os.getpid())
        await jobs.work(
            stop, concurrency=concurrency, on_ready=link.ready if link is not None else None
        )
        _logger.info("worker.stopped", pid=os.getpid())

    try:
        asyncio.run(main())
    finally:
        runtime.close()
    return 0


def _child(link: ChildLink, concurrency: int) -> None:  # pragma: no cover - in the child
    link.enter()
    raise SystemExit(_worker_process(concurrency, link))


def run_worker_processes(*, processes: int, concurrency: int) -> int:
    """Run `processes` worker processes of `concurrency` jobs each until SIGTERM/SIGINT.

    One process runs here; more are children of the one supervisor (`app.jobs.supervisor`): a
    child that dies is restarted, unless it died within 10 s of starting (a configuration or
    database problem: everything stops and its exit code is returned).
    """
    if processes == 1:
        return _worker_process(concurrency)
    supervisor = Supervisor(
        _child, (concurrency,), count=processes, name="smsdesk-worker", fail_fast_seconds=10.0
    )

    async def main() -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        return await supervisor.run(stop)

    return asyncio.run(main())
