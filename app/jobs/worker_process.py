"""Embedded mode's worker process: `smsdesk serve` runs its jobs in one supervised child.

Why a child: a Python process computes on one core at a time (the GIL). Acknowledging a webhook
costs about 2 ms of CPU and processing a text 10 ms or more (far more with the AI layer), so in
one process acknowledgements queue behind processing as soon as texts arrive faster than they
are processed. The child takes the other core; both share the database (SQLite in WAL mode
allows one writer and many readers across processes) and the same durable `jobs` table.

The child dies with its parent (Linux `PR_SET_PDEATHSIG`): a killed server never leaves a worker
running beside its successor, whose start-up recovery assumes it runs the only workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
import socket
import sys
from multiprocessing.connection import Connection
from typing import Any

from app import log
from app.config import Settings
from app.jobs.inprocess import Handler, InProcessEngine

_PR_SET_PDEATHSIG = 1
_logger = log.get_logger("jobs")


class WorkerProcess:
    """The JobEngine the server sees in embedded mode: wakes and supervises the child."""

    def __init__(self, settings: Settings, runner: InProcessEngine) -> None:
        self.settings = settings
        self.runner = runner
        """The same engine the child runs, for one-shot use in this process (`drain`)."""
        self._wake: Connection | None = None
        self._ready: Connection | None = None
        self._is_ready = False
        self._process: multiprocessing.process.BaseProcess | None = None

    @property
    def handlers(self) -> dict[str, Handler]:
        """The job handlers by kind."""
        return self.runner.handlers

    def notify(self) -> None:
        """New work was committed: wake the child (never blocks; a full pipe is awake already)."""
        if self._wake is not None:
            with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
                os.write(self._wake.fileno(), b"\0")

    def is_ready(self) -> bool:
        """Whether the child has started its workers."""
        if not self._is_ready and self._ready is not None:
            # A child that died before saying so is not ready: poll() also answers at EOF.
            with contextlib.suppress(OSError, EOFError):
                self._is_ready = self._ready.poll() and self._ready.recv_bytes() == b"ready"
        return self._is_ready

    def drain(self, limit: int = 10_000) -> int:
        """Run runnable jobs in this thread (one-shot runs; the child may take some too)."""
        return self.runner.drain(limit)

    async def run(self, stop: asyncio.Event) -> None:
        """Start the child, restart it if it dies, stop it (gracefully) when `stop` is set."""
        failures = 0
        while not stop.is_set():
            process = self._start()
            await self._bridge(process, stop)
            while process.is_alive() and not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.5)
                # What the bridge could not record, once the database answers again.
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.runner.recover_orphans)
            if stop.is_set():
                break
            # A child that ran is replaced at once; one that keeps dying at start, ever slower.
            failures = 1 if self.is_ready() else failures + 1
            _logger.error("worker.process_died", exit_code=process.exitcode, restarts=failures)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(30.0, 0.5 * 2**failures))
        await asyncio.to_thread(self._stop)

    async def _bridge(
        self, process: multiprocessing.process.BaseProcess, stop: asyncio.Event
    ) -> None:
        """Run the jobs here until the child runs its own: spawning it, importing and loading
        the AI take seconds, and a STOP must not wait for that (issue 13: suppression p99 under
        1 s from a cold start). Texts for the AI wait for the child (`Readiness.elsewhere`);
        the child's start-up recovery spares the jobs running here (`live_nodes`)."""
        heartbeat = self.runner.heartbeat  # jobs run here meanwhile: /healthz says so
        while process.is_alive() and not stop.is_set() and not self.is_ready():
            if heartbeat is not None:
                await asyncio.to_thread(heartbeat.try_beat)
            try:
                # A job whose outcome could not be recorded is this node's until put back:
                # the child's recovery spares it (`live_nodes`), so the bridge does it.
                await asyncio.to_thread(self.runner.recover_orphans)
                ran = await asyncio.to_thread(self.runner.drain, 20)
            except Exception as exc:  # the database is away: bridge on, try again later
                _logger.error("worker.bridge_failed", error=repr(exc))
                ran, pause = 0, self.runner.poll_seconds
            else:
                pause = 0.05
            if not ran:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
        if heartbeat is not None:
            await asyncio.to_thread(heartbeat.stop)

    def _start(self) -> multiprocessing.process.BaseProcess:
        # Spawned from the event loop's (main) thread: PDEATHSIG follows the creating thread.
        context = multiprocessing.get_context("spawn")
        reader, writer = context.Pipe(duplex=False)
        os.set_blocking(writer.fileno(), False)
        ready_reader, ready_writer = context.Pipe(duplex=False)
        process = context.Process(
            target=_child_main,
            args=(self.settings, reader, ready_writer, os.getpid()),
            name="smsdesk-worker",
            daemon=True,
        )
        process.start()
        reader.close()
        ready_writer.close()
        for old in (self._wake, self._ready):
            if old is not None:
                old.close()
        self._wake, self._ready, self._process = writer, ready_reader, process
        self._is_ready = False
        _logger.info("worker.process_started", pid=process.pid)
        return process

    def _stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.is_alive():
            process.terminate()  # SIGTERM: the running jobs finish, then it exits
            process.join(timeout=30)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)
        for pipe in (self._wake, self._ready):
            if pipe is not None:
                pipe.close()
        self._wake = self._ready = self._process = None
        self._is_ready = False


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _child_main(  # pragma: no cover - runs in the child
    settings: Settings, wake: Connection, ready: Connection, parent: int
) -> None:
    _die_with_parent(parent)
    # Acknowledging a text comes before processing it (issue 15): when the AI's CPU and the
    # server's requests want the same core, the server wins; an idle core still runs the jobs.
    os.nice(10)
    # Ctrl-C reaches the whole process group: the parent decides when the child stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from app.runtime import build_runtime

    log.configure(settings.log_level)
    runtime = build_runtime(settings.model_copy(update={"worker_process": False}))
    # The parent runs jobs until this child says it is ready: its running jobs are not orphans.
    assert isinstance(runtime.jobs, InProcessEngine)
    runtime.jobs.live_nodes = (f"{socket.gethostname()}:{parent}",)
    # STOP/HELP/START and the ledger never wait for the models (issue 13): until they have
    # loaded, or failed (then texts for the AI go to people instead of this process dying and
    # restarting for ever), the parent runs compliance and sends. Loading holds this process's
    # GIL for seconds at a time; a STOP run here meanwhile waited for it (p99 3.2 s measured).
    sys.setswitchinterval(0.001)
    # The models' objects live as long as the process: keep them out of collections.
    warming = runtime.start_warm_up(then=gc.freeze)
    if warming is not None:
        warming.join()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_reader(wake.fileno(), _on_wake, wake, runtime.jobs)
        loop.call_soon(ready.send_bytes, b"ready")
        await runtime.jobs.run(stop)

    try:
        asyncio.run(main())
    finally:
        runtime.close()


def _on_wake(wake: Connection, jobs: Any) -> None:
    try:
        data = os.read(wake.fileno(), 4096)
    except BlockingIOError:
        return
    if not data:  # the parent closed its end: it is gone or replacing this child
        asyncio.get_running_loop().remove_reader(wake.fileno())
        os.kill(os.getpid(), signal.SIGTERM)
        return
    jobs.notify()
