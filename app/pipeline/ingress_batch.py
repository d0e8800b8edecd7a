"""Group commit for inbound texts: the texts of many webhook requests stored in one transaction.

Why: a request is acknowledged only once its text is durably stored, and on SQLite every write
transaction queues for the one writer lock, which the worker's processing takes too. With one
transaction per request a burst queued in front of that lock: at 300 texts/s the server acked
118/s and the p99 acknowledgement took 15.4 s, past Twilio's 15 s. Here one thread writes; it
takes every text that arrived while its previous transaction committed, stores them all in the
next one (one lock, one commit) and only then answers their requests. The batch grows with the
load instead of the queue, and an idle server still commits a text alone at once: there is no
timer to wait for.

A failed transaction stores none of its texts and fails every request of the batch (503: the
provider retries). A text a concurrent writer stored first (another replica, the integrator
API) fails the batch with `IntegrityError`: its texts are then stored one by one, each retry
answered as a duplicate.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from app import log
from app.channels.base import InboundSms
from app.pipeline.ingress import Accepted, Inbound, accept_inbound, accept_many, inbound
from app.storage import first_in_line

MAX_BATCH = 256
"""Texts per transaction at most (a burst's backlog is cut into transactions of this size)."""
IDLE_SECONDS = 2.0
"""The writer thread ends after this long without a text (and starts again with the next)."""
_logger = log.get_logger("pipeline")


class InboundWriter:
    """Stores inbound texts in batches from one thread; each caller waits for its own text."""

    def __init__(
        self,
        engine: Engine,
        *,
        brand: str,
        on_commit: Callable[[], None] = lambda: None,
        max_batch: int = MAX_BATCH,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.engine = engine
        self._writes = first_in_line(engine)  # an acknowledgement never queues behind workers
        self.brand = brand
        self.on_commit = on_commit
        """Called after each committed batch (waking the job workers once, not per text)."""
        self.max_batch = max_batch
        self.idle_seconds = idle_seconds
        self._queue: queue.Queue[tuple[Inbound, Future[Accepted]]] = queue.Queue()
        self._lock = threading.Lock()
        self._running = False

    async def accept(self, sms: InboundSms) -> Accepted:
        """Store `sms` with the next batch; returns once that batch has committed.

        Raises `InvalidPhoneNumber` at once for a sender that is not E.164, and the batch's
        SQLAlchemy error when its transaction failed (nothing of it was stored).
        """
        return await asyncio.wrap_future(self.submit(sms))

    def submit(self, sms: InboundSms) -> Future[Accepted]:
        """`accept` for a thread: the future is resolved after the durable commit."""
        text = inbound(sms)  # a bad sender fails its own request, never the batch
        future: Future[Accepted] = Future()
        with self._lock:  # the thread decides to end under this lock: no text is left behind
            self._queue.put((text, future))
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="smsdesk-inbound", daemon=True).start()
        return future

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._running = False
                        return
                continue
            taken = [first]
            while len(taken) < self.max_batch:
                try:
                    taken.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            # A request whose client went away was cancelled: it was never acknowledged, so
            # the provider delivers it again; the others can no longer be cancelled.
            batch = [item for item in taken if item[1].set_running_or_notify_cancel()]
            if batch:
                self._write(batch)

    def _write(self, batch: list[tuple[Inbound, Future[Accepted]]]) -> None:
        texts = [text for text, _ in batch]
        try:
            results = accept_many(self._writes, texts, brand=self.brand)
        except IntegrityError:
            self._write_one_by_one(batch)
        except Exception as exc:  # the database cannot take it: every request answers 503
            _logger.warning("ingress.batch_failed", texts=len(batch), error=repr(exc))
            for _, future in batch:
                future.set_exception(exc)
            return
        else:
            for (_, future), result in zip(batch, results, strict=True):
                future.set_result(result)
        self._notify()

    def _write_one_by_one(self, batch: list[tuple[Inbound, Future[Accepted]]]) -> None:
        for text, future in batch:
            try:
                future.set_result(accept_inbound(self._writes, text.sms, brand=self.brand))
            except Exception as exc:
                future.set_exception(exc)

    def _notify(self) -> None:
        try:
            self.on_commit()
        except Exception as exc:  # waking the workers is best effort: they poll anyway
            _logger.warning("ingress.notify_failed", error=repr(exc))
