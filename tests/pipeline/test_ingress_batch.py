"""Group commit of inbound texts (`ingress_batch`) on a real SQLite file and a real PostgreSQL:
every text stored once with its job, in arrival order per conversation, and nothing stored (and
nothing acknowledged) when a batch's transaction fails."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, event, func
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from app.channels.base import InboundSms
from app.config import Settings
from app.errors import InvalidPhoneNumber
from app.main import create_app
from app.pipeline.ingress import (
    PROCESS_INBOUND,
    URGENT,
    Accepted,
    accept_inbound,
    accept_many,
    inbound,
)
from app.pipeline.ingress_batch import InboundWriter
from app.storage.tables import Conversation, Job, Message
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, SMS_WEBHOOK, sign
from tests.helpers import inbound_sms

ALICE, BOB = "+12125550123", "+13105550123"


def sms(body: str, *, phone: str = ALICE, sid: str | None = None) -> InboundSms:
    return inbound_sms(body, phone=phone, sid=sid)


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def inbound_texts(engine: Engine) -> int:
    with Session(engine) as session:
        query = select(func.count()).where(Message.direction == "inbound")
        return int(session.exec(query).one())


@contextmanager
def failing_writes(engine: Engine) -> Iterator[None]:
    """Every INSERT on `engine` fails, as on a full disk: the transaction cannot commit."""

    def fail(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            raise OperationalError(statement, None, Exception("disk full"))

    event.listen(engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", fail)


def test_a_batch_stores_each_text_and_its_job_once(engine: Engine) -> None:
    again = sms("What time do you open?")
    texts = [inbound(t) for t in (again, sms("STOP", phone=BOB), again)]

    first, stop, repeated = accept_many(engine, texts, brand="default")

    assert first.created and stop.created
    assert repeated == Accepted(first.message_id, created=False)  # the same text twice
    assert count(engine, Message) == 2 and count(engine, Job) == 2
    assert count(engine, Conversation) == 2
    with Session(engine) as session:
        job = session.exec(select(Job).where(Job.key == f"default|{BOB}")).one()
    assert (job.kind, job.priority) == (PROCESS_INBOUND, URGENT)


def test_a_text_stored_by_an_earlier_batch_is_a_duplicate(engine: Engine) -> None:
    writer = InboundWriter(engine, brand="default")
    text = sms("Is my order ready?")

    first = writer.submit(text).result(timeout=30)
    retried = writer.submit(text).result(timeout=30)

    assert first.created
    assert retried == Accepted(first.message_id, created=False)
    assert count(engine, Message) == 1 and count(engine, Job) == 1


def test_texts_keep_their_order_per_conversation(engine: Engine) -> None:
    woken: list[int] = []
    writer = InboundWriter(engine, brand="default", on_commit=lambda: woken.append(1))
    bodies = [("a1", ALICE), ("b1", BOB), ("a2", ALICE), ("a3", ALICE), ("b2", BOB)]
    futures = [writer.submit(sms(body, phone=phone)) for body, phone in bodies]

    accepted = [future.result(timeout=30) for future in futures]

    assert all(a.created for a in accepted)
    assert woken  # the workers were woken after the commit
    with Session(engine) as session:
        for phone, expected in ((ALICE, ["a1", "a2", "a3"]), (BOB, ["b1", "b2"])):
            jobs = session.exec(
                select(Job).where(Job.key == f"default|{phone}").order_by(col(Job.id))
            ).all()
            bodies_in_job_order = [
                session.exec(
                    select(Message.body).where(Message.id == uuid.UUID(job.payload["message_id"]))
                ).one()
                for job in jobs
            ]
            assert bodies_in_job_order == expected


def test_a_failed_transaction_stores_nothing_and_fails_every_text_of_the_batch(
    engine: Engine,
) -> None:
    writer = InboundWriter(engine, brand="default")
    with failing_writes(engine):
        futures: list[Future[Accepted]] = [
            writer.submit(sms(body, phone=phone)) for body, phone in (("hi", ALICE), ("STOP", BOB))
        ]
        for future in futures:
            with pytest.raises(OperationalError):
                future.result(timeout=30)
    assert count(engine, Message) == 0 and count(engine, Job) == 0
    assert count(engine, Conversation) == 0

    assert writer.submit(sms("hi")).result(timeout=30).created  # the provider's retry


def test_a_bad_sender_fails_only_its_own_request(engine: Engine) -> None:
    writer = InboundWriter(engine, brand="default")
    with pytest.raises(InvalidPhoneNumber):
        writer.submit(sms("hi", phone="12345"))
    assert writer.submit(sms("hi")).result(timeout=30).created


def post(client: TestClient, form: dict[str, str]) -> Any:
    url = "https://sms.example.com/webhooks/twilio/sms"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": sign(url, form),
    }
    return client.post("/webhooks/twilio/sms", content=urlencode(form), headers=headers)


def test_the_webhook_answers_503_when_its_batch_fails_and_200_on_the_retry(
    settings: Settings,
) -> None:
    configured = settings.model_copy(
        update={
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_account_sid": ACCOUNT_SID,
            "public_base_url": "https://sms.example.com",
        }
    )
    with TestClient(create_app(configured)) as client:
        engine: Engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
        with failing_writes(engine):
            assert post(client, SMS_WEBHOOK).status_code == 503
        assert inbound_texts(engine) == 0

        assert post(client, SMS_WEBHOOK).status_code == 200  # Twilio retries
        assert post(client, SMS_WEBHOOK).status_code == 200  # and retries again
        assert inbound_texts(engine) == 1  # (the workers may have answered it meanwhile)


def test_concurrent_first_texts_of_a_new_customer_share_one_conversation(
    engine: Engine,
) -> None:
    texts = [sms(f"hello {i}") for i in range(6)]
    start = threading.Barrier(len(texts))

    def deliver(text: InboundSms) -> Accepted:
        start.wait()
        return accept_inbound(engine, text, brand="default")

    with ThreadPoolExecutor(len(texts)) as pool:
        accepted = list(pool.map(deliver, texts))

    assert all(a.created for a in accepted)
    assert count(engine, Conversation) == 1
    assert count(engine, Message) == 6 and count(engine, Job) == 6
