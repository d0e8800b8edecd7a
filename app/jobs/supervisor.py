"""The one supervisor of worker child processes: spawn, wake, watch, restart, stop.

Used by embedded mode (`smsdesk serve` runs its jobs in one child, `WorkerProcess`) and by
scale-out mode (`smsdesk worker --processes N`). What it keeps, learnt the hard way:

* A child dies with its parent (Linux `PR_SET_PDEATHSIG`): a killed server never leaves a worker
  running beside its successor, whose start-up recovery assumes it runs the only workers.
* A child says when it takes jobs (`ChildLink.ready()`, a pipe): until then the parent knows
  nothing runs (embedded mode bridges, /healthz says not ready).
* A child that had become ready and then died is replaced at once; one that keeps dying before
  that is restarted ever slower (0.5 s doubling, at most 30 s), and the back-off resets as soon
  as a replacement becomes ready.
* With `fail_fast_seconds` (the `smsdesk worker` command), a child that dies that soon after its
  start is a configuration or database problem: every child is stopped and its exit code is
  returned, instead of restarting for ever.
* Stopping sends SIGTERM to every child at once (running jobs finish), waits up to
  `stop_seconds`, then kills what is left. Ctrl-C reaches the whole process group: children
  ignore SIGINT, the parent decides when they stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from app import log

_PR_SET_PDEATHSIG = 1
_logger = log.get_logger("jobs")


@dataclass
class ChildLink:
    """The child's end of its pipes to the supervisor (picklable: passed to the spawned child)."""

    wake: Connection
    """Readable when the parent has committed new work (embedded mode)."""
    ready_pipe: Connection
    parent: int

    def enter(self) -> None:
        """First thing in the child: die with the parent, leave Ctrl-C to the parent."""
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != self.parent:  # the parent died before prctl took effect
            os._exit(1)
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    def ready(self) -> None:
        """Tell the parent this child takes jobs now."""
        with contextlib.suppress(OSError):
            self.ready_pipe.send_bytes(b"ready")

    def watch(self, on_wake: Callable[[], None]) -> None:
        """On the running loop: call `on_wake` when the parent wakes this child; SIGTERM this
        process when the parent closes its end (it is gone, or replacing this child)."""
        loop = asyncio.get_running_loop()
        fileno = self.wake.fileno()

        def readable() -> None:
            try:
                data = os.read(fileno, 4096)
            except BlockingIOError:
                return
            if not data:
                loop.remove_reader(fileno)
                os.kill(os.getpid(), signal.SIGTERM)
                return
            on_wake()

        loop.add_reader(fileno, readable)


ChildMain = Callable[..., None]
"""`main(link: ChildLink, *args)`, run in the spawned child."""


@dataclass
class Child:
    """One running child and the parent's ends of its pipes."""

    process: BaseProcess
    wake: Connection
    ready_pipe: Connection
    started: float
    is_ready: bool = False

    def poll_ready(self) -> bool:
        if not self.is_ready:
            # A child that died before saying so is not ready: poll() also answers at EOF.
            with contextlib.suppress(OSError, EOFError):
                self.is_ready = self.ready_pipe.poll() and self.ready_pipe.recv_bytes() == b"ready"
        return self.is_ready

    def close(self) -> None:
        for pipe in (self.wake, self.ready_pipe):
            pipe.close()


@dataclass
class Supervisor:
    """Keeps `count` children of `main(link, *args)` running until stopped."""

    main: ChildMain
    args: tuple[Any, ...] = ()
    count: int = 1
    name: str = "smsdesk-worker"
    fail_fast_seconds: float | None = None
    """A child dying this soon after its start stops everything (None: restart it)."""
    stop_seconds: float = 30.0
    while_starting: Callable[[Child, asyncio.Event], Awaitable[None]] | None = None
    """Run in the parent from a child's start until it is ready or dead (embedded: the bridge)."""
    while_running: Callable[[], Awaitable[None]] | None = None
    """Run in the parent about twice a second while a child runs."""
    children: dict[int, Child] = field(default_factory=dict)
    exit_code: int = 0

    def notify(self) -> None:
        """Wake every child (never blocks: a full pipe is awake already)."""
        for child in list(self.children.values()):
            with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
                os.write(child.wake.fileno(), b"\0")

    def is_ready(self) -> bool:
        """Whether every child has said it takes jobs."""
        children = list(self.children.values())
        return len(children) == self.count and all(child.poll_ready() for child in children)

    async def run(self, stop: asyncio.Event) -> int:
        """Supervise until `stop` is set (or a child fails fast); the exit code."""
        halt = asyncio.Event()  # `stop`, or a child that failed fast
        relay = asyncio.create_task(_follow(stop, halt))
        keepers = [asyncio.create_task(self._keep(index, halt)) for index in range(self.count)]
        try:
            await asyncio.gather(*keepers)
        finally:
            relay.cancel()
            await asyncio.to_thread(self.stop_all)
        return self.exit_code

    def stop_all(self) -> None:
        """SIGTERM every child at once, wait for them, kill what is left."""
        children = list(self.children.values())
        for child in children:
            if child.process.is_alive():
                child.process.terminate()
        deadline = time.monotonic() + self.stop_seconds
        for child in children:
            child.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if child.process.is_alive():
                child.process.kill()
                child.process.join(timeout=5)
            child.close()
        self.children.clear()

    async def _keep(self, index: int, halt: asyncio.Event) -> None:
        failures = 0
        while not halt.is_set():
            child = self._start(index)
            if self.while_starting is not None:
                await self.while_starting(child, halt)
            while child.process.is_alive() and not halt.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(halt.wait(), timeout=0.5)
                if self.while_running is not None:
                    with contextlib.suppress(Exception):
                        await self.while_running()
            if halt.is_set():
                return
            lived = time.monotonic() - child.started
            code = child.process.exitcode
            if self.fail_fast_seconds is not None and lived < self.fail_fast_seconds:
                _logger.error("worker.child_failed_at_start", exit_code=code, seconds=lived)
                self.exit_code = self.exit_code or code or 1
                halt.set()
                return
            # A child that ran is replaced at once; one that keeps dying at start, ever slower.
            failures = 1 if child.poll_ready() else failures + 1
            _logger.error("worker.process_died", exit_code=code, restarts=failures)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(halt.wait(), timeout=min(30.0, 0.5 * 2**failures))

    def _start(self, index: int) -> Child:
        # Spawned from the event loop's (main) thread: PDEATHSIG follows the creating thread.
        context = multiprocessing.get_context("spawn")
        wake_reader, wake_writer = context.Pipe(duplex=False)
        os.set_blocking(wake_writer.fileno(), False)
        ready_reader, ready_writer = context.Pipe(duplex=False)
        link = ChildLink(wake_reader, ready_writer, os.getpid())
        process = context.Process(
            target=self.main, args=(link, *self.args), name=self.name, daemon=True
        )
        process.start()
        wake_reader.close()
        ready_writer.close()
        old = self.children.get(index)
        if old is not None:
            old.close()
        child = Child(process, wake_writer, ready_reader, time.monotonic())
        self.children[index] = child
        _logger.info("worker.process_started", pid=process.pid, index=index)
        return child


async def _follow(stop: asyncio.Event, halt: asyncio.Event) -> None:
    await stop.wait()
    halt.set()
