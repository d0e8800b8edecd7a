"""Whether the responder (the AI layer) can decide now: loading, ready, or failed for good.

Compliance never asks this: STOP/HELP/START and the consent ledger work from the first text
whatever the AI layer is doing (issue 13). Only a passed text asks it, and then waits while the
models load, or goes to a person when they failed to load.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal

from app import log

ReadinessState = Literal["idle", "loading", "ready", "failed"]
_logger = log.get_logger("ai")


class Readiness:
    """The responder's warm-up, run in a background thread so that it never blocks the jobs."""

    def __init__(self) -> None:
        self._state: ReadinessState = "idle"
        """idle: nobody started a warm-up (one-shot runs load the models on first use)."""
        self._reason: str | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> ReadinessState:
        """Where the warm-up stands."""
        return self._state

    @property
    def reason(self) -> str | None:
        """Why the warm-up failed (one line), else None."""
        return self._reason

    def describe(self) -> str:
        """`loading`, `ready` or `failed: <reason>` (what /healthz shows as `ai`)."""
        if self._state == "failed":
            return f"failed: {self._reason}"
        return "ready" if self._state == "ready" else "loading"

    def elsewhere(self) -> None:
        """Another process loads the AI layer: texts for it wait here, never load it here.

        The server in embedded mode runs jobs itself only while its worker child starts; the
        models must not load beside its webhooks (seconds of CPU on the acknowledging core).
        """
        with self._lock:
            if self._state == "idle":
                self._state = "loading"

    def start(
        self,
        warm_up: Callable[[], None] | None,
        *,
        then: Callable[[], None] | None = None,
        settled: Callable[[], None] | None = None,
    ) -> threading.Thread | None:
        """Run `warm_up` in a daemon thread (None: nothing to load, ready at once).

        A failure is logged once, as one clear line, and the process carries on: texts for the
        AI go to people (`ai_unavailable`) instead of the worker dying and restarting for ever.
        """
        with self._lock:
            if self._state != "idle":
                return None
            if warm_up is None:
                self._state = "ready"
                return None
            self._state = "loading"
        thread = threading.Thread(
            target=self._run,
            args=(warm_up, then, settled),
            name="smsdesk-ai-warm-up",
            daemon=True,
        )
        thread.start()
        return thread

    def _run(
        self,
        warm_up: Callable[[], None],
        then: Callable[[], None] | None,
        settled: Callable[[], None] | None,
    ) -> None:
        try:
            warm_up()
        except Exception as exc:  # any load error: the knowledge, a model file, the index
            self._reason = _one_line(exc)
            self._state = "failed"
            _logger.error("ai.unavailable", reason=self._reason)
        else:
            self._state = "ready"
            _logger.info("ai.ready")
            if then is not None:
                then()
        if settled is not None:
            try:
                settled()
            except Exception as exc:  # the texts still run at their next retry
                _logger.warning("ai.wake_failed", error=repr(exc))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
