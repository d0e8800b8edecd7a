"""The opt-out and the cancellation of a number's unsent texts are one commit, and a send that
waits out a retry checks consent again (IN-2, TIME-3; issue 13). Deterministic companions of
the race test: each pins one interleaving that the race only hits by chance."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from tenacity import RetryCallState
from tenacity.wait import wait_base

from app.channels.base import OutboundSms, SendResult
from app.config import Settings
from app.errors import ProviderError
from app.outbound.send import OutboundSender, queue_outbound
from app.runtime import Runtime, build_runtime
from app.storage.messages import add_status, get_or_create_conversation
from app.storage.tables import Message

PHONE = "+14155550172"
BRAND = "default"
REPLY = "Acme: your order is ready for pickup. Reply STOP to opt out."


@pytest.fixture
def runtime(engine: Engine, settings: Settings) -> Iterator[Runtime]:
    yield build_runtime(settings, engine=engine)


def _queue(runtime: Runtime, key: str, status: str = "queued") -> uuid.UUID:
    with Session(runtime.engine, expire_on_commit=False) as session:
        conversation = get_or_create_conversation(session, brand=BRAND, phone=PHONE)
        message = queue_outbound(
            session,
            conversation=conversation,
            body=REPLY,
            category="reply",
            purpose="api",
            idempotency_key=key,
            provider="console",
        )
        if status != "queued":
            add_status(session, message, status)
        session.commit()
        return message.id


def _status(runtime: Runtime, message_id: uuid.UUID) -> str:
    with Session(runtime.engine) as session:
        message = session.get(Message, message_id)
        assert message is not None
        return message.status


def _stop(runtime: Runtime, sid: str = "SMstop") -> None:
    runtime.compliance.process_inbound(
        phone=PHONE, body="STOP", received_at=datetime.now(UTC), provider_message_id=sid
    )


def test_recording_the_opt_out_cancels_every_unsent_text_in_the_same_commit(
    runtime: Runtime,
) -> None:
    runtime.compliance.process_inbound(
        phone=PHONE, body="Is my order ready?", received_at=datetime.now(UTC)
    )
    queued = _queue(runtime, "queued")
    scheduled = _queue(runtime, "scheduled", status="scheduled")
    retrying = _queue(runtime, "retrying", status="sending")  # waiting out a provider error
    _stop(runtime)  # the ledger commit only: the inbound processing has not run
    assert runtime.compliance.consent(PHONE).state.status == "opted_out"
    assert [_status(runtime, m) for m in (queued, scheduled, retrying)] == ["cancelled"] * 3


class _StopDuringBackOff(wait_base):
    """The retry's back-off, during which the customer's STOP is processed."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def __call__(self, retry_state: RetryCallState) -> float:
        _stop(self.runtime)
        return 0.0


class _FailsOnce:
    name = "console"

    def __init__(self) -> None:
        self.calls: list[OutboundSms] = []
        self.accepted: list[OutboundSms] = []

    def send(self, sms: OutboundSms) -> SendResult:
        self.calls.append(sms)
        if len(self.calls) == 1:
            raise ProviderError("503 from the provider", retryable=True)
        self.accepted.append(sms)
        return SendResult(f"SM{len(self.calls):032d}")


def test_a_retry_after_the_opt_out_is_never_sent(runtime: Runtime) -> None:
    runtime.compliance.process_inbound(
        phone=PHONE, body="Is my order ready?", received_at=datetime.now(UTC)
    )
    reply = _queue(runtime, "retried-reply")
    provider = _FailsOnce()
    sender = OutboundSender(
        runtime.engine, runtime.compliance, provider, retry_wait=_StopDuringBackOff(runtime)
    )
    sender.send(reply)
    # The first attempt failed before the STOP; nothing may be accepted after it.
    assert (len(provider.calls), provider.accepted) == (1, [])
    assert _status(runtime, reply) == "cancelled"
