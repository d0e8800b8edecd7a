"""Flow events to the business's own system: signed JSON POSTs, retried, outcome recorded.

The event is queued as a job in the same transaction as the answer that caused it (so it is
sent once the answer is committed, and never for an answer that was rolled back). Each POST
carries `X-Smsdesk-Signature: sha256=<hex HMAC-SHA256 of the body>` with the
SMSDESK_FLOW_WEBHOOK_SECRET key, and `X-Smsdesk-Delivery`, the event's id: retries send the same
id, so the receiver can drop a repeat of an event it already took (STYLE 9).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlmodel import Session
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from app import log
from app.errors import SmsdeskError
from app.storage.messages import enqueue, now
from app.storage.tables import FlowRun

FLOW_WEBHOOK = "flow_webhook"
SIGNATURE_HEADER = "X-Smsdesk-Signature"
DELIVERY_HEADER = "X-Smsdesk-Delivery"
_logger = log.get_logger("flows")


class WebhookFailed(SmsdeskError):
    """The business's system did not take a flow event after every retry."""

    code = "flow_webhook_failed"


class _Retryable(Exception):
    """A refusal worth another attempt: a network error, 429 or a 5xx."""


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def enqueue_webhook(
    session: Session, run: FlowRun, *, event: str, url: str | None, picked: str
) -> None:
    """Queue one event of `run` for its URL (nothing without a URL: logged, not an error)."""
    if url is None:
        _logger.info("flows.webhook_skipped", flow=run.flow, webhook_event=event, why="no url")
        return
    delivery = str(uuid.uuid4())
    payload = {
        "id": delivery,
        "event": event,
        "flow": run.flow,
        "run_id": str(run.id),
        "brand": run.brand,
        "phone": run.phone_e164,
        "node": run.node,
        "choice": picked,
        "outcome": run.outcome,
        "variables": {k: v for k, v in run.variables.items() if not k.startswith("_")},
        "answers": run.answers,
        "at": now().isoformat(),
    }
    enqueue(
        session,
        kind=FLOW_WEBHOOK,
        key=f"webhook|{run.id}",  # one run's events arrive in the order they happened
        payload={"url": url, "body": json.dumps(payload, sort_keys=True)},
        dedupe_key=f"webhook:{delivery}",
    )


@dataclass
class WebhookSender:
    """Runs `flow_webhook` jobs."""

    secret: str
    timeout: float = 5.0
    max_attempts: int = 4
    retry_wait: wait_base = field(
        default_factory=lambda: wait_random_exponential(multiplier=0.5, max=8)
    )
    transport: httpx.BaseTransport | None = None

    def __call__(self, payload: dict[str, str]) -> None:
        """The job handler: POST until taken, or raise `WebhookFailed` (the job records it)."""
        self.deliver(payload["url"], payload["body"])

    def deliver(self, url: str, body: str) -> int:
        """POST one event; the status code the receiver answered."""
        raw = body.encode()
        delivery = str(json.loads(body).get("id", ""))
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret, raw),
            DELIVERY_HEADER: delivery,
        }
        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
            stop=stop_after_attempt(self.max_attempts),
            wait=self.retry_wait,
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
                status = retrying(self._post, client, url, raw, headers)
        except (_Retryable, httpx.HTTPError) as exc:
            _logger.warning("flows.webhook_failed", delivery=delivery, error=str(exc))
            raise WebhookFailed(f"{url}: {exc}") from None
        _logger.info("flows.webhook_sent", delivery=delivery, status=status)
        return status

    @staticmethod
    def _post(client: httpx.Client, url: str, raw: bytes, headers: dict[str, str]) -> int:
        try:
            response = client.post(url, content=raw, headers=headers)
        except httpx.TransportError as exc:
            raise _Retryable(f"network error: {exc}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            # 4xx: the receiver refuses this event as it is; sending it again changes nothing.
            raise WebhookFailed(f"HTTP {response.status_code}: {response.text[:200]}")
        return response.status_code


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    _logger.info("flows.webhook_retry", attempt=state.attempt_number, error=str(error))


def payload_of(body: str) -> dict[str, Any]:
    """A queued event's JSON (tests and the console read it)."""
    data: dict[str, Any] = json.loads(body)
    return data
