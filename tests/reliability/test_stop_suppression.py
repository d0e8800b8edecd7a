"""A STOP that arrives while replies to that customer are still queued: none of them is sent."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

import app.outbound.send as send_module
from app.channels.base import InboundSms
from app.config import Settings
from app.outbound.send import queue_outbound
from app.pipeline.ingress import accept_inbound
from app.runtime import Runtime, build_runtime
from app.storage.messages import conversation_key, get_or_create_conversation
from app.storage.tables import Conversation, Job, Message, OutboxEntry
from tests.reliability.conftest import (
    BRAND,
    BUSINESS_NUMBER,
    Probe,
    SmsdeskServer,
    Twilio,
    api_reply,
    eventually,
    new_sid,
)

pytestmark = pytest.mark.xdist_group("reliability")
PHONE = "+14155550171"


def _hold_sends(probe: Probe, phone: str) -> int:
    """A send job for `phone` that is not due for an hour, so the customer's later sends wait
    behind it (one key runs in order), as they would behind a provider outage's retries."""
    now = datetime.now(UTC)
    with Session(probe.writer) as session:
        job = Job(
            kind="send_outbound",
            key="send|" + conversation_key(BRAND, phone),
            payload={"message_id": str(uuid.uuid4())},  # no such message: a no-op when it runs
            dedupe_key=f"test-hold:{phone}",
            run_after=now + timedelta(hours=1),
            created_at=now,
        )
        session.add(job)
        session.commit()
        assert job.id is not None
        return job.id


def _release(probe: Probe, job_id: int) -> None:
    with Session(probe.writer) as session:
        session.exec(update(Job).where(col(Job.id) == job_id).values(run_after=datetime.now(UTC)))  # type: ignore[call-overload]
        session.commit()


def test_stop_cancels_every_reply_queued_for_that_customer(
    server: SmsdeskServer, twilio: Twilio, probe: Probe
) -> None:
    question = twilio.form(new_sid(), PHONE, "Is my order ready?")
    assert twilio.post(question).status_code == 200
    eventually(lambda: probe.processed(question["MessageSid"]), seconds=10, what="question")
    # The bot is off: the question went to a person, and the customer was told so once.
    (question_message,) = probe.inbound(question["MessageSid"])
    acknowledgement = f"handoff_ack:0:{question_message.id}"

    def acknowledged() -> bool:
        with probe.session() as session:
            sent = session.exec(
                select(Message).where(Message.idempotency_key == acknowledgement)
            ).all()
        return [m.status for m in sent] == ["sent"]

    eventually(acknowledged, seconds=10, what="hand-off acknowledgement sent")
    hold = _hold_sends(probe, PHONE)
    keys = [f"queued-reply-{n}" for n in range(3)]
    for key in keys:
        response = api_reply(server, PHONE, key)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "queued"

    stop = twilio.form(new_sid(), PHONE, "STOP")
    assert twilio.post(stop).status_code == 200
    eventually(lambda: probe.processed(stop["MessageSid"]), seconds=10, what="STOP processed")
    _release(probe, hold)  # the queue moves again: only what is still allowed may leave
    probe.wait_idle()

    with probe.session() as session:
        replies = session.exec(select(Message).where(col(Message.idempotency_key).in_(keys))).all()
        outbox = session.exec(select(OutboxEntry).where(OutboxEntry.to_number == PHONE)).all()
    assert len(replies) == 3
    for reply in replies:
        assert [step.status for step in probe.steps(reply.id)] == ["queued", "cancelled"]
    (stop_message,) = probe.inbound(stop["MessageSid"])
    # Before the STOP only the acknowledgement went; after it, only the confirmation.
    assert [row.idempotency_key for row in outbox] == [
        acknowledgement,
        f"opt_out_confirmation:{stop_message.id}",
    ]
    # 2 texts, 1 acknowledgement, 3 replies, 1 confirmation, the hold
    assert probe.job_states() == {"done": 8}


# The same promise at the moment the STOP is half processed. `InboundProcessor.process` commits
# the opt-out to the ledger in one transaction and cancels the queue in a later one; a send job
# for the same customer runs on another key, in parallel (and after a SIGKILL between the two
# commits, recovery re-runs the reply's older job first). Here the reply's send job runs in that
# gap, exactly as a second worker does; the app components are driven in-process to pin the
# interleaving that the real server only hits by chance.


@pytest.fixture
def runtime(engine: Engine, settings: Settings) -> Iterator[Runtime]:
    yield build_runtime(settings, engine=engine)


def _text(runtime: Runtime, body: str) -> uuid.UUID:
    sms = InboundSms(
        provider="twilio",
        provider_message_id=new_sid(),
        from_number=PHONE,
        to_number=BUSINESS_NUMBER,
        body=body,
        received_at=datetime.now(UTC),
    )
    return accept_inbound(runtime.engine, sms, brand=BRAND).message_id


def test_reply_queued_before_stop_is_not_sent_between_opt_out_and_cancellation(
    runtime: Runtime,
) -> None:
    question_id = _text(runtime, "Is my order ready?")
    runtime.jobs.drain()  # the bot is off: a person takes over, and the customer is told
    with Session(runtime.engine, expire_on_commit=False) as session:
        conversation = get_or_create_conversation(session, brand=BRAND, phone=PHONE)
        reply = queue_outbound(
            session,
            conversation=conversation,
            body="Acme: your order is ready for pickup. Reply STOP to opt out.",
            category="reply",
            purpose="api",
            idempotency_key="queued-before-stop",
            provider=runtime.sender.name,
        )
        session.commit()
    stop_id = _text(runtime, "STOP")
    with Session(runtime.engine) as session:
        stop = session.get(Message, stop_id)
        assert stop is not None
    # The STOP's first transaction: the opt-out is in the ledger, in force from now on.
    runtime.compliance.process_inbound(
        phone=PHONE,
        body=stop.body,
        received_at=stop.created_at,
        provider_message_id=f"twilio:{stop.provider_message_id}",
    )
    assert runtime.compliance.consent(PHONE).state.status == "opted_out"
    # Another worker runs the reply's send job now.
    runtime.jobs.handlers["send_outbound"]({"message_id": str(reply.id)})
    runtime.jobs.drain()  # and the STOP's processing completes

    with Session(runtime.engine) as session:
        sent = session.exec(select(OutboxEntry.idempotency_key).order_by(col(OutboxEntry.id))).all()
    # The acknowledgement went before the STOP; the reply queued before it never goes.
    assert sent == [f"handoff_ack:0:{question_id}", f"opt_out_confirmation:{stop_id}"]


@pytest.mark.postgres
def test_cancellation_committed_while_a_send_starts_is_not_overwritten(
    pg_engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = build_runtime(settings, engine=pg_engine)
    runtime.compliance.process_inbound(
        phone=PHONE, body="Is my order ready?", received_at=datetime.now(UTC)
    )
    with Session(pg_engine, expire_on_commit=False) as session:
        conversation = get_or_create_conversation(session, brand=BRAND, phone=PHONE)
        reply = queue_outbound(
            session,
            conversation=conversation,
            body="Acme: your order is ready for pickup. Reply STOP to opt out.",
            category="reply",
            purpose="api",
            idempotency_key="cancelled-meanwhile",
            provider=runtime.sender.name,
        )
        session.commit()
    real_add_status = send_module.add_status
    cancelled: list[int] = []
    racer: list[threading.Thread] = []

    def cancel_meanwhile(session: Session, message: Message, status: str, **kw: Any) -> None:
        if status == "sending" and not racer:
            # The STOP's cancellation runs on another connection after the send has read the
            # message as queued and before it writes 'sending': it must wait for the send's
            # commit (and then find nothing to cancel), or win and stop the send.
            def cancel() -> None:
                with Session(pg_engine) as other:
                    stored = other.get(Conversation, conversation.id)
                    assert stored is not None
                    cancelled.append(
                        send_module.cancel_pending(other, conversation=stored, reason="STOP")
                    )
                    other.commit()

            racer.append(threading.Thread(target=cancel))
            racer[0].start()
            racer[0].join(timeout=1.0)  # long enough for an unlocked cancellation to commit
        real_add_status(session, message, status, **kw)

    monkeypatch.setattr(send_module, "add_status", cancel_meanwhile)
    runtime.jobs.handlers["send_outbound"]({"message_id": str(reply.id)})
    racer[0].join(timeout=30)

    with Session(pg_engine) as session:
        sent = session.exec(select(OutboxEntry.idempotency_key)).all()
        stored = session.get(Message, reply.id)
        assert stored is not None
    # One order or the other, never both: a cancelled text must not have been sent.
    assert (cancelled, sent, stored.status) == ([0], ["cancelled-meanwhile"], "sent")
