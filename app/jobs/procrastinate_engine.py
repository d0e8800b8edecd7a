"""Scale-out execution: procrastinate workers run the `jobs` table, one conversation at a time.

The `jobs` table stays the single durable truth, as in embedded mode: a job row is committed in
the same transaction as the message that needs it. Procrastinate (a PostgreSQL task queue) only
decides *who* runs it and *when*:

* One procrastinate task, `smsdesk.run_key(key)`, deferred with `lock=key` (procrastinate runs
  the tasks of one lock one at a time, in id order; a unique index allows one `doing` per lock)
  and `queueing_lock=key` (at most one waiting task per key; `AlreadyEnqueued` is ignored). The
  task claims and runs the jobs of its key, head first, with the embedded engine's own claim
  (`InProcessEngine.run_one(key)`), until none is runnable. Two jobs of one conversation
  therefore never run at once, on any number of machines, and always in id (arrival) order.
* A relay, about once a second and whenever `notify()` is called, defers `run_key` for every key
  whose head job is runnable and that has no task waiting or running. It covers a crash between
  commit and deferral, retries whose `run_after` has come, and scheduled sends (`release_due`,
  run under a PostgreSQL advisory lock so one replica at a time does it). The relay runs in every
  `smsdesk serve` replica and in every worker; duplicates are harmless (queueing lock).
* A finished job defers `run_key` for the keys it created work for (an inbound message queues
  its reply under `send|<key>`), so a reply does not wait for the next relay tick.

Crash safety. A claimed row records its owner in `locked_by` as `pq:<procrastinate job id>:
<worker id>`. While that procrastinate job is `doing` with that worker, procrastinate's lock
keeps every other `run_key` of the key away, so the row is left alone. A worker killed mid-job
leaves its procrastinate job `doing`: the periodic task `smsdesk.retry_stalled_jobs` (every 10 s,
the recipe procrastinate documents, since 3.10 has no built-in one) finds `doing` jobs whose
worker stopped sending heartbeats for `stalled_seconds` (default 30 s, procrastinate's own
`stalled_worker_timeout`) and retries them (or fails one if the key already has a waiting task,
which then takes over). The re-run `run_key`, or the relay, then puts the row back to `pending`
because its owner is no longer a `doing` job of that worker, and runs it again; handlers are
idempotent, so the job takes effect once. A `running` row with any other owner (the embedded
engine, `drain()`) is put back only when its `locked_at` is older than `lease_seconds` (120 s).
A job being run when a worker is asked to stop always finishes before its task ends (the thread
is shielded from cancellation), so only a killed process leaves a row `running`. `run_key` has
no procrastinate `retry=`: a retry moves the same task back to `todo`, which the queueing lock
refuses whenever the key already has a waiting task; the relay re-defers a failed key instead.
Succeeded procrastinate tasks are deleted; the `jobs` table keeps the history.

The handlers are synchronous: `run_key` is an async task that runs them in threads, so a worker
with `concurrency=N` runs up to N conversations at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import re
import signal
import socket
import time
from collections.abc import Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

import procrastinate
from procrastinate import exceptions as pq_errors
from procrastinate.job_context import JobContext
from procrastinate.jobs import Status
from procrastinate.schema import SchemaManager
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL, make_url

from app import log
from app.errors import ConfigurationError
from app.jobs.inprocess import Handler, InProcessEngine
from app.storage.messages import now

QUEUE = "smsdesk"
RUN_KEY = "smsdesk.run_key"
RETRY_STALLED = "smsdesk.retry_stalled_jobs"
OWNER_PREFIX = "pq:"
# Any constants work: every smsdesk process on one database agrees on them.
_SCHEMA_LOCK = 7_301_955_322
_PERIODIC_LOCK = 7_301_955_323

_RECOVER = """
    UPDATE jobs SET state = 'pending', locked_by = NULL, locked_at = NULL
    WHERE state = 'running'{key_filter}
      AND CASE WHEN starts_with(coalesce(locked_by, ''), 'pq:')
        THEN NOT EXISTS (
          SELECT 1 FROM procrastinate_jobs p
          WHERE p.status = 'doing'
            AND p.id::text = split_part(jobs.locked_by, ':', 2)
            AND p.worker_id::text = split_part(jobs.locked_by, ':', 3)
        )
        ELSE locked_at IS NULL OR locked_at < :cutoff
      END
    RETURNING id
"""
_READY_KEYS = text(
    """
    SELECT DISTINCT j.key FROM jobs j
    WHERE j.state = 'pending' AND j.run_after <= :now
      AND NOT EXISTS (
        SELECT 1 FROM jobs e
        WHERE e.key = j.key AND e.id < j.id AND e.state IN ('pending', 'running')
      )
      AND NOT EXISTS (
        SELECT 1 FROM procrastinate_jobs p
        WHERE p.lock = j.key AND p.status IN ('todo', 'doing') AND p.task_name = :task
      )
    LIMIT :limit
    """
)
# Jobs a finished job created (their `run_after` is their creation time): start them now.
_NEW_KEYS = text(
    """
    SELECT DISTINCT j.key FROM jobs j
    WHERE j.state = 'pending' AND j.run_after >= :since AND j.run_after <= :now
      AND j.key <> :key
      AND NOT EXISTS (
        SELECT 1 FROM procrastinate_jobs p
        WHERE p.lock = j.key AND p.status IN ('todo', 'doing') AND p.task_name = :task
      )
    LIMIT 100
    """
)
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


class ProcrastinateEngine:
    """The JobEngine of scale-out mode: procrastinate workers run `jobs` rows key by key."""

    def __init__(
        self,
        runner: InProcessEngine,
        *,
        relay_seconds: float = 1.0,
        lease_seconds: float = 120.0,
        stalled_seconds: float = 30.0,
        max_batch: int = 500,
        pool_size: int = 10,
    ) -> None:
        self.runner = runner
        """Claims, runs and finishes jobs (the embedded engine's logic, filtered by key)."""
        self.relay_seconds = relay_seconds
        self.lease_seconds = lease_seconds
        self.stalled_seconds = stalled_seconds
        self.max_batch = max_batch
        """At most this many jobs per `run_key` run; then it hands over to a fresh task."""
        connector = procrastinate.PsycopgConnector(
            conninfo=libpq_url(runner.engine.url), min_size=1, max_size=pool_size
        )
        self.app = procrastinate.App(connector=connector)
        # No `retry=` on purpose: procrastinate retries a job by moving it back to `todo`, which
        # the queueing lock refuses whenever the relay has already queued the key's next task
        # (the job would then stay `doing`). A failed `run_key` (the database went away; handler
        # errors never get here, they are retried on the job row) is re-deferred by the relay.
        self.run_key = self.app.task(name=RUN_KEY, queue=QUEUE, pass_context=True)(self._run_key)
        self.retry_stalled_jobs = self.app.periodic(cron="* * * * * */10")(
            self.app.task(name=RETRY_STALLED, queue=QUEUE)(self._retry_stalled_task)
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine of the `jobs` table."""
        return self.runner.engine

    @property
    def handlers(self) -> dict[str, Handler]:
        """The job handlers by kind."""
        return self.runner.handlers

    # -- JobEngine -------------------------------------------------------------------------

    def notify(self) -> None:
        """New work was committed: have the relay defer it now (thread-safe, never blocks)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(wake.set)

    def drain(self, limit: int = 10_000) -> int:
        """Run runnable jobs in this thread, without procrastinate (tests, one-shot runs)."""
        return self.runner.drain(limit)

    def is_ready(self) -> bool:
        """Whether the relay runs (the workers are separate `smsdesk worker` processes, whose
        heartbeats /healthz reads)."""
        return self._wake is not None

    async def run(self, stop: asyncio.Event) -> None:
        """The relay only (what `smsdesk serve` runs); `smsdesk worker` runs the jobs."""
        self._bind()
        while not stop.is_set():
            try:
                async with self.app.open_async():
                    await asyncio.to_thread(self.ensure_schema)
                    await self._relay(stop)
            except Exception as exc:  # the database is away: keep serving, try again
                _logger.error("jobs.relay_failed", error=repr(exc))
                await self._sleep(stop, 5.0)

    # -- workers ---------------------------------------------------------------------------

    async def work(
        self,
        stop: asyncio.Event,
        *,
        concurrency: int,
        name: str | None = None,
        shutdown_graceful_timeout: float = 60.0,
    ) -> None:
        """Run a procrastinate worker (`concurrency` jobs at once) and the relay until `stop`.

        On `stop`, running jobs finish (up to `shutdown_graceful_timeout`), then it returns. A
        worker that fails (procrastinate gives up when the database goes away) is started again.
        """
        self._bind()
        self._stopping = False
        async with self.app.open_async():
            await asyncio.to_thread(self.ensure_schema)
            relay = asyncio.create_task(self._relay(stop))
            beating = asyncio.create_task(self._beat(stop))
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
                            stalled_worker_timeout=self.stalled_seconds,
                            update_heartbeat_interval=max(0.5, self.stalled_seconds / 3),
                        )
                    )
                    stopped = asyncio.create_task(stop.wait())
                    await asyncio.wait({worker, stopped}, return_when=asyncio.FIRST_COMPLETED)
                    if not worker.done():
                        self._stopping = True
                        worker.cancel()  # procrastinate stops gracefully when cancelled
                        await asyncio.gather(worker, return_exceptions=True)
                        break
                    stopped.cancel()
                    error = worker.exception()
                    _logger.error("worker.failed", error=repr(error))
                    await self._sleep(stop, 2.0)
            finally:
                self._stopping = True
                for task in (relay, beating):
                    if not task.done():
                        task.cancel()
                await asyncio.gather(relay, beating, return_exceptions=True)
                if self.runner.heartbeat is not None:
                    await asyncio.to_thread(self.runner.heartbeat.stop)
                self._stopping = False  # every task of this worker has ended

    # -- relay -----------------------------------------------------------------------------

    async def relay_once(self) -> int:
        """Put back abandoned rows, run the periodic tasks, defer every runnable key."""
        recovered = await asyncio.to_thread(self.recover)
        if recovered:
            _logger.info("jobs.recovered", count=recovered)
        await asyncio.to_thread(self.run_periodic)
        return await self.defer(await asyncio.to_thread(self.ready_keys))

    async def defer(self, keys: Iterable[str]) -> int:
        """Defer `run_key` for each key that has no waiting task yet; how many were deferred."""
        deferred = 0
        for key in keys:
            with contextlib.suppress(pq_errors.AlreadyEnqueued):
                await self.run_key.configure(lock=key, queueing_lock=key).defer_async(key=key)
                deferred += 1
        return deferred

    def ready_keys(self, limit: int = 1000) -> list[str]:
        """Keys whose head job is runnable now and that no `run_key` task waits for or runs.

        A key whose task is just finishing is picked up at the next tick (at most
        `relay_seconds` later); skipping running keys avoids queueing a task behind every one."""
        params = {"now": now(), "task": RUN_KEY, "limit": limit}
        with self.engine.connect() as connection:
            return [row[0] for row in connection.execute(_READY_KEYS, params)]

    def recover(self, key: str | None = None) -> int:
        """Put back `running` rows nobody runs any more (see the module docstring)."""
        sql = _RECOVER.format(key_filter=" AND key = :key" if key is not None else "")
        params: dict[str, Any] = {"cutoff": now() - timedelta(seconds=self.lease_seconds)}
        if key is not None:
            params["key"] = key
        with self.engine.begin() as connection:
            return len(connection.execute(text(sql), params).all())

    def run_periodic(self) -> int:
        """Run the periodic tasks (releasing scheduled sends) in one process at a time."""
        total = 0
        with self.engine.connect() as connection:
            lock = {"k": _PERIODIC_LOCK}
            if not connection.execute(text("SELECT pg_try_advisory_lock(:k)"), lock).scalar():
                return 0
            connection.commit()
            try:
                for task in self.runner.periodic:
                    try:
                        total += task()
                    except Exception as exc:  # a periodic task must never stop the relay
                        _logger.error("jobs.periodic_failed", error=repr(exc))
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), lock)
                connection.commit()
        return total

    def ensure_schema(self) -> None:
        """Create procrastinate's tables if absent; safe when several processes start at once."""
        with self.engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
            if connection.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar():
                return
            # The raw driver runs the multi-statement script in this transaction, unparsed.
            driver = connection.connection.driver_connection
            assert driver is not None
            driver.execute(SchemaManager.get_schema())
            _logger.info("jobs.procrastinate_schema_applied")

    async def retry_stalled(self) -> int:
        """Retry the `run_key` tasks of workers that stopped sending heartbeats."""
        manager = self.app.job_manager
        stalled = await manager.get_stalled_jobs(
            task_name=RUN_KEY, seconds_since_heartbeat=self.stalled_seconds
        )
        count = 0
        for job in stalled:
            try:
                await manager.retry_job(job)
            except pq_errors.UniqueViolation:
                # The key already has a waiting task: it takes over, this one is done for.
                with contextlib.suppress(pq_errors.ConnectorException):
                    await manager.finish_job(job, status=Status.FAILED, delete_job=False)
            except pq_errors.ConnectorException:
                continue  # another worker dealt with it first
            count += 1
            _logger.warning("jobs.stalled_task_retried", task=job.id, worker=job.worker_id)
        return count

    # -- internals -------------------------------------------------------------------------

    async def _run_key(self, context: JobContext, key: str) -> int:
        """The `run_key` task: run the jobs of one key, head first, until none is runnable."""
        job = context.job
        runner = dataclasses.replace(self.runner, node=f"{OWNER_PREFIX}{job.id}:{job.worker_id}")
        # Procrastinate lets one `run_key` of this key be `doing`: any row of the key still
        # `running` under another owner belongs to a dead worker.
        await _uncancellable(asyncio.to_thread(self.recover, key))
        ran = 0
        while ran < self.max_batch and not self._stopping:
            started = now()
            if not await _uncancellable(asyncio.to_thread(runner.run_one, key)):
                return ran
            ran += 1
            created = await asyncio.to_thread(self._new_keys, started, key)
            if created:
                await self.defer(created)
        # Leave the rest to a fresh task (this one's successor, or another worker's relay).
        with contextlib.suppress(pq_errors.AlreadyEnqueued):
            await self.run_key.configure(lock=key, queueing_lock=key).defer_async(key=key)
        return ran

    def _new_keys(self, since: Any, key: str) -> list[str]:
        params = {"since": since, "now": now(), "key": key, "task": RUN_KEY}
        with self.engine.connect() as connection:
            return [row[0] for row in connection.execute(_NEW_KEYS, params)]

    async def _retry_stalled_task(self, timestamp: int) -> None:
        await self.retry_stalled()

    def _bind(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()

    async def _relay(self, stop: asyncio.Event) -> None:
        assert self._wake is not None
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.relay_once()
            except Exception as exc:  # keep relaying: the next tick may work
                _logger.error("jobs.relay_failed", error=repr(exc))
            await self._sleep(stop, self.relay_seconds)

    async def _beat(self, stop: asyncio.Event) -> None:
        """This worker's heartbeat (the relay in `smsdesk serve` runs no jobs: it has none)."""
        heartbeat = self.runner.heartbeat
        if heartbeat is None:
            return
        while not stop.is_set():
            await asyncio.to_thread(heartbeat.try_beat)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        """Wait `seconds`, or less if `stop` is set or `notify()` is called."""
        waiters = [asyncio.ensure_future(stop.wait())]
        if self._wake is not None:
            waiters.append(asyncio.ensure_future(self._wake.wait()))
        _done, pending = await asyncio.wait(
            waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for waiter in pending:
            waiter.cancel()


async def _uncancellable(work: Coroutine[Any, Any, T]) -> T:
    """Await `work`; if cancelled meanwhile, let it finish first, then re-raise.

    A job being run in a thread always records its outcome before its task ends, so the row
    is never left `running` by a worker that is still alive."""
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
    """Procrastinate logs its tasks' arguments (conversation keys): keep phone numbers out."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("procrastinate"):
            record.msg = _PHONE.sub(lambda m: "+…" + m.group()[-4:], record.getMessage())
            record.args = None
        return True


def _worker_process(concurrency: int) -> int:
    """One worker process: the configured runtime, a procrastinate worker and the relay."""
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
        # Each running job holds a thread; the relay needs a few more.
        loop.set_default_executor(ThreadPoolExecutor(max_workers=concurrency + 4))
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        _logger.info("worker.started", concurrency=concurrency, pid=os.getpid())
        await jobs.work(stop, concurrency=concurrency)
        _logger.info("worker.stopped", pid=os.getpid())

    try:
        asyncio.run(main())
    finally:
        runtime.close()
    return 0


def _child(concurrency: int) -> None:  # pragma: no cover - runs in a spawned process
    raise SystemExit(_worker_process(concurrency))


def run_worker_processes(*, processes: int, concurrency: int) -> int:
    """Run `processes` worker processes of `concurrency` jobs each until SIGTERM/SIGINT.

    A child that dies is restarted, unless it died within 10 s of starting (a configuration or
    database problem: everything stops and its exit code is returned).
    """
    if processes == 1:
        return _worker_process(concurrency)
    context = multiprocessing.get_context("spawn")
    stopping = False
    children: dict[int, tuple[Any, float]] = {}

    def launch(index: int) -> None:
        child = context.Process(target=_child, args=(concurrency,), daemon=False)
        child.start()
        children[index] = (child, time.monotonic())

    def on_signal(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for child, _started in children.values():
            if child.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    exit_code = 0
    try:
        for index in range(processes):
            launch(index)
        while children:
            for index, (child, started) in list(children.items()):
                child.join(timeout=0.2)
                if child.exitcode is None:
                    continue
                del children[index]
                if stopping:
                    continue
                if time.monotonic() - started < 10.0:
                    _logger.error("worker.child_failed_at_start", exit_code=child.exitcode)
                    exit_code = child.exitcode or 1
                    on_signal(signal.SIGTERM, None)
                    continue
                _logger.warning("worker.child_restarted", exit_code=child.exitcode)
                launch(index)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return exit_code
