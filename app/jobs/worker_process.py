"""Embedded mode's worker process: `smsdesk serve` runs its jobs in one supervised child.

Why a child: a Python process computes on one core at a time (the GIL). Acknowledging a webhook
costs about 2 ms of CPU and processing a text 10 ms or more (far more with the AI layer), so in
one process acknowledgements queue behind processing as soon as texts arrive faster than they
are processed. The child takes the other core; both share the database (SQLite in WAL mode
allows one writer and many readers across processes) and the same durable `jobs` table.

The child is spawned, watched, restarted and stopped by the one supervisor (`app.jobs.supervisor`,
which `smsdesk worker --processes N` uses too); what is embedded-specific lives here: the bridge
that runs urgent jobs in the server while the child starts, and the child's own start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import sys

from app import log
from app.config import Settings
from app.jobs.inprocess import Handler, InProcessEngine
from app.jobs.supervisor import Child, ChildLink, Supervisor

_logger = log.get_logger("jobs")


class WorkerProcess:
    """The JobEngine the server sees in embedded mode: wakes and supervises the child."""

    def __init__(self, settings: Settings, runner: InProcessEngine) -> None:
        self.settings = settings
        self.runner = runner
        """The same engine the child runs, for one-shot use in this process (`drain`)."""
        self.supervisor = Supervisor(
            _child_main,
            (settings,),
            name="smsdesk-worker",
            while_starting=self._bridge,
            while_running=self._recover_orphans,
        )

    @property
    def handlers(self) -> dict[str, Handler]:
        """The job handlers by kind."""
        return self.runner.handlers

    def notify(self) -> None:
        """New work was committed: wake the child (never blocks)."""
        self.supervisor.notify()

    def is_ready(self) -> bool:
        """Whether the child has started its workers."""
        return self.supervisor.is_ready()

    def drain(self, limit: int = 10_000) -> int:
        """Run runnable jobs in this thread (one-shot runs; the child may take some too)."""
        return self.runner.drain(limit)

    async def run(self, stop: asyncio.Event) -> None:
        """Start the child, restart it if it dies, stop it (gracefully) when `stop` is set."""
        await self.supervisor.run(stop)

    async def _recover_orphans(self) -> None:
        # What the bridge could not record, once the database answers again.
        await asyncio.to_thread(self.runner.recover_orphans)

    async def _bridge(self, child: Child, stop: asyncio.Event) -> None:
        """Run the jobs here until the child runs its own: spawning it, importing and loading
        the AI take seconds, and a STOP must not wait for that (issue 13: suppression p99 under
        1 s from a cold start). Texts for the AI wait for the child (`Readiness.elsewhere`);
        the child's start-up recovery spares the jobs running here (`live_nodes`)."""
        heartbeat = self.runner.heartbeat  # jobs run here meanwhile: /healthz says so
        while child.process.is_alive() and not stop.is_set() and not child.poll_ready():
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


def _child_main(link: ChildLink, settings: Settings) -> None:  # pragma: no cover - in the child
    link.enter()
    # Acknowledging a text comes before processing it (issue 15): when the AI's CPU and the
    # server's requests want the same core, the server wins; an idle core still runs the jobs.
    os.nice(10)
    from app.runtime import build_runtime

    log.configure(settings.log_level)
    runtime = build_runtime(settings.model_copy(update={"worker_process": False}))
    # The parent runs jobs until this child says it is ready: its running jobs are not orphans.
    assert isinstance(runtime.jobs, InProcessEngine)
    runtime.jobs.live_nodes = (f"{socket.gethostname()}:{link.parent}",)
    # STOP/HELP/START and the ledger never wait for the models (issue 13): until they have
    # loaded, or failed (then texts for the AI go to people instead of this process dying and
    # restarting for ever), the parent runs compliance and sends. Loading holds this process's
    # GIL for seconds at a time; a STOP run here meanwhile waited for it (p99 3.2 s measured).
    sys.setswitchinterval(0.001)
    # The models' objects live as long as the process: keep them out of collections.
    warming = runtime.start_warm_up(then=gc.freeze)
    if warming is not None:
        warming.join()
    jobs = runtime.jobs

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        link.watch(jobs.notify)
        loop.call_soon(link.ready)
        await jobs.run(stop)

    try:
        asyncio.run(main())
    finally:
        runtime.close()
