"""Compliance never waits for the AI (issue 13): a STOP is honoured while the models load, a
broken knowledge folder leaves the worker up (STOP works, questions go to people), and
/healthz tells the truth about the workers and the AI layer in every execution mode.

The loading is controlled by an Event the test sets: nothing here depends on timing.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, col, select

import app.runtime as runtime_module
from app.config import Settings
from app.jobs.procrastinate_engine import ProcrastinateEngine
from app.main import create_app
from app.pipeline.decision import Answer, Decided, Reply
from app.pipeline.responder import ResponderRequest
from app.runtime import build_runtime
from app.storage import make_engine
from app.storage.tables import Conversation, HandoffItem, Message
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, SMS_WEBHOOK, sign
from tests.conftest import REPO
from tests.helpers import eventually
from tests.reliability.conftest import SmsdeskServer, Twilio, new_sid

BASE = "https://sms.example.com"
SMS_URL = f"{BASE}/webhooks/twilio/sms"
PHONE = "+14155550123"
OTHER = "+14155550124"


class SlowToLoad:
    """A responder whose models load until the test releases them, like the AI layer: the
    warm-up blocks, and so does a first `respond` that comes before the warm-up is done."""

    def __init__(self) -> None:
        self.loaded = threading.Event()
        self.answered: list[str] = []

    def warm_up(self) -> None:
        if not self.loaded.wait(timeout=120):
            raise RuntimeError("the test never released the models")

    def respond(self, request: ResponderRequest) -> Decided:
        self.warm_up()
        self.answered.append(request.body)
        text = f"Acme: you said {request.body!r}. Reply STOP to opt out"
        return Decided(Reply((Answer("echo", text),)), {"entries": ["echo"], "draft": text})


@pytest.fixture
def responder() -> Iterator[SlowToLoad]:
    loading = SlowToLoad()
    yield loading
    loading.loaded.set()  # never leave a worker thread blocked behind the test


@pytest.fixture
def client(
    settings: Settings, engine: Engine, responder: SlowToLoad, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setattr(runtime_module, "make_responder", lambda _settings: responder)
    configured = settings.model_copy(
        update={
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_account_sid": ACCOUNT_SID,
            "public_base_url": BASE,
            "database_url": engine.url.render_as_string(hide_password=False),
            "workers": 2,
        }
    )
    with TestClient(create_app(configured)) as test_client:
        yield test_client


def text_in(client: TestClient, body: str, *, phone: str = PHONE) -> None:
    sid = new_sid()
    form = {**SMS_WEBHOOK, "MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid,
            "From": phone, "Body": body}  # fmt: skip
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    headers["X-Twilio-Signature"] = sign(SMS_URL, form)
    response = client.post("/webhooks/twilio/sms", content=urlencode(form), headers=headers)
    assert response.status_code == 200, response.text


def sent_to(engine: Engine, phone: str) -> list[tuple[str | None, str]]:
    """(purpose, body) of every text going or gone to `phone`, in order."""
    with Session(engine) as session:
        rows = session.exec(
            select(Message)
            .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
            .where(Conversation.phone_e164 == phone, Message.direction == "outbound")
            .where(col(Message.status).not_in(("cancelled", "blocked", "failed")))
            .order_by(col(Message.created_at), col(Message.id))
        ).all()
        return [(m.purpose, m.body) for m in rows]


def inbound_statuses(engine: Engine, phone: str) -> list[str]:
    with Session(engine) as session:
        rows = session.exec(
            select(Message.status)
            .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
            .where(Conversation.phone_e164 == phone, Message.direction == "inbound")
        ).all()
        return list(rows)


def health(client: TestClient) -> dict[str, Any]:
    response = client.get("/healthz")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_a_stop_while_the_ai_loads_is_confirmed_before_the_warm_up_ends(
    client: TestClient, engine: Engine, responder: SlowToLoad
) -> None:
    text_in(client, "What time do you open?")  # needs the AI: waits for it
    text_in(client, "STOP")  # behind it in the same conversation: must not wait

    eventually(lambda: [p for p, _ in sent_to(engine, PHONE)] == ["opt_out_confirmation"], 20)
    assert not responder.loaded.is_set()  # confirmed while the models were still loading
    state = health(client)
    assert (state["ai"], state["workers"], state["database"]) == ("loading", "ready", "ok")
    assert state["status"] == "ok"  # texts are taken: the parts say what waits

    responder.loaded.set()
    eventually(lambda: inbound_statuses(engine, PHONE) == ["processed", "processed"], 20)
    # The question was asked before the STOP: it is never answered after it.
    assert [p for p, _ in sent_to(engine, PHONE)] == ["opt_out_confirmation"]
    eventually(lambda: health(client)["ai"] == "ready", 10)


def test_texts_for_the_ai_wait_in_order_while_help_is_answered_at_once(
    client: TestClient, engine: Engine, responder: SlowToLoad
) -> None:
    text_in(client, "first question")
    text_in(client, "HELP")
    text_in(client, "second question")
    eventually(lambda: [p for p, _ in sent_to(engine, PHONE)] == ["help"], 20)
    assert responder.answered == []

    responder.loaded.set()
    eventually(lambda: len(sent_to(engine, PHONE)) == 3, 20)
    assert responder.answered == ["first question", "second question"]
    bodies = [body for _, body in sent_to(engine, PHONE)[1:]]
    assert "first question" in bodies[0] and "second question" in bodies[1]
    # A question asked once the AI is ready is answered straight away.
    text_in(client, "third question")
    eventually(lambda: responder.answered[-1:] == ["third question"], 20)


# -- a broken knowledge folder, in a real `smsdesk serve` with its worker child ---------------


def broken_knowledge(tmp_path: Path) -> Path:
    folder = tmp_path / "knowledge"
    shutil.copytree(REPO / "knowledge", folder)
    (folder / "intents.yaml").write_text("intents: [this is not: valid yaml\n")
    return folder


def test_a_broken_knowledge_folder_leaves_the_worker_up_and_compliance_working(
    tmp_path: Path,
) -> None:
    server = SmsdeskServer(
        tmp_path,
        extra_env={"SMSDESK_BOT": "ai", "SMSDESK_KNOWLEDGE_DIR": str(broken_knowledge(tmp_path))},
    )
    server.start()
    try:
        twilio = Twilio(server)

        def state() -> dict[str, Any]:
            body: dict[str, Any] = httpx2.get(server.url("/healthz"), timeout=5).json()
            return body

        eventually(lambda: state()["ai"].startswith("failed: "), 60)
        assert "intents.yaml" in state()["ai"] and state()["workers"] == "ready"

        assert twilio.post(twilio.form(new_sid(), PHONE, "STOP")).status_code == 200
        assert twilio.post(twilio.form(new_sid(), OTHER, "Do you deliver?")).status_code == 200
        engine = make_engine(server.database_url)
        try:
            eventually(lambda: [p for p, _ in sent_to(engine, PHONE)] == ["opt_out_confirmation"])
            eventually(lambda: [p for p, _ in sent_to(engine, OTHER)] == ["handoff_ack"])
            with Session(engine) as session:
                (item,) = session.exec(select(HandoffItem)).all()
            assert item.reasons == ["ai_unavailable"]
        finally:
            engine.dispose()
        log = server.log_path.read_text(errors="replace")
        assert log.count("worker.process_started") == 1, log  # never died, never restarted
        assert "worker.process_died" not in log
        assert log.count("ai.unavailable") == 1  # one clear error
    finally:
        server.stop()


# -- procrastinate mode: the server runs no jobs, workers are separate processes --------------


@pytest.mark.postgres
def test_procrastinate_mode_reports_no_workers_until_one_runs(
    settings: Settings, pg_engine: Engine
) -> None:
    configured = settings.model_copy(
        update={
            "execution_mode": "procrastinate",
            "database_url": pg_engine.url.render_as_string(hide_password=False),
        }
    )
    with TestClient(create_app(configured)) as client:
        state = health(client)
        assert (state["workers"], state["worker_count"], state["status"]) == ("not_ready", 0, "ok")
        assert state["ai"] == "off"  # SMSDESK_BOT=off in tests

        worker = build_runtime(configured, engine=pg_engine)
        jobs = worker.jobs
        assert isinstance(jobs, ProcrastinateEngine)
        stop = threading.Event()
        ready = threading.Event()

        def run() -> None:
            async def main() -> None:
                stopping = asyncio.Event()
                task = asyncio.create_task(jobs.work(stopping, concurrency=1))
                ready.set()
                await asyncio.to_thread(stop.wait)
                stopping.set()
                await task

            asyncio.run(main())

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            ready.wait(10)
            eventually(lambda: health(client)["workers"] == "ready", 30)
            assert health(client)["worker_count"] == 1
        finally:
            stop.set()
            thread.join(timeout=60)
        # A worker that stopped cleanly is gone at once, not after its heartbeat goes stale.
        assert health(client)["workers"] == "not_ready"
