"""Scale-out mode: the pipeline run by real procrastinate workers on PostgreSQL.

Every test gets a fresh database (`pg_engine`). Jobs are executed by procrastinate workers
(`App.run_worker_async`, or `ProcrastinateEngine.work`, or `smsdesk worker` processes), never by
`drain()`. Each test is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from app.channels.base import InboundSms
from app.config import Settings
from app.jobs.procrastinate_engine import QUEUE, RUN_JOB, ProcrastinateEngine
from app.main import create_app
from app.pipeline.decision import Answer, Decided, Reply
from app.pipeline.ingress import accept_inbound, accept_many, inbound
from app.pipeline.responder import ResponderRequest
from app.runtime import Runtime, build_runtime
from app.storage.messages import conversation_key, now
from app.storage.tables import Job, Message, OutboxEntry
from tests.helpers import inbound_sms

pytestmark = pytest.mark.postgres

PHONE = "+12125550123"
OTHER = "+13105550147"
REPO = Path(__file__).resolve().parents[2]


class EchoResponder:
    """Answers every passed text and records the order it saw them in (per phone).

    With `meet_phones`, the first text of each of those phones waits (up to 30 s) until the
    first texts of all of them are being answered at once: `met` says whether they were, which
    proves their conversations ran in parallel without depending on how jobs happen to overlap.
    """

    def __init__(self, delay: float = 0.0, meet_phones: tuple[str, ...] = ()) -> None:
        self.delay = delay
        self.seen: list[tuple[str, str]] = []
        self._meeting = threading.Barrier(len(meet_phones), timeout=30) if meet_phones else None
        self._to_meet = set(meet_phones)
        self.met = False
        self._lock = threading.Lock()

    def respond(self, request: ResponderRequest) -> Decided:
        with self._lock:
            self.seen.append((request.phone, request.body))
            meets = request.phone in self._to_meet
            self._to_meet.discard(request.phone)
        if meets and self._meeting is not None:
            try:
                self._meeting.wait()
                self.met = True
            except threading.BrokenBarrierError:
                pass  # `met` stays False: the test that asked for the meeting fails
        if self.delay:
            time.sleep(random.uniform(0, self.delay))
        text = f"Acme: you said {request.body!r}. Reply STOP to opt out"
        return Decided(Reply((Answer("echo", text),)), {"draft": text})


@pytest.fixture
def settings(tmp_path: Path, pg_engine: Engine) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        env="test",
        execution_mode="procrastinate",
        database_url=pg_engine.url.render_as_string(hide_password=False),
    )


@pytest.fixture
def responder() -> EchoResponder:
    return EchoResponder()


@pytest.fixture
def runtime(pg_engine: Engine, settings: Settings, responder: EchoResponder) -> Iterator[Runtime]:
    yield build_runtime(settings, engine=pg_engine, responder=responder)


def engine_of(runtime: Runtime) -> ProcrastinateEngine:
    assert isinstance(runtime.jobs, ProcrastinateEngine)
    return runtime.jobs


def sms(body: str, *, phone: str = PHONE, sid: str | None = None) -> InboundSms:
    return inbound_sms(body, phone=phone, sid=sid)


def outbox(engine: Engine, phone: str | None = None) -> list[str]:
    with Session(engine) as session:
        query = select(OutboxEntry).order_by(col(OutboxEntry.id))
        entries = session.exec(query).all()
    return [e.body for e in entries if phone is None or e.to_number == phone]


def _idle(jobs: ProcrastinateEngine) -> bool:
    """No `run_job` job runs or is due (a job retried later does not count)."""
    due = [
        job
        for job in jobs.queued()
        if job.status == "doing" or job.scheduled_at is None or job.scheduled_at <= now()
    ]
    return not due


async def _work_until_idle(
    jobs: ProcrastinateEngine, *, concurrency: int, workers: int, delete_jobs: str
) -> int:
    """Real procrastinate workers that stop once the queue is empty; repeat until nothing is
    left (a job can create work for another key)."""
    rounds = 0
    async with jobs.app.open_async():
        await asyncio.to_thread(jobs.ensure_schema)
        while True:
            rounds += 1
            for periodic in jobs.runner.periodic:  # what the periodic task does every second
                await asyncio.to_thread(periodic)
            await asyncio.gather(
                *(
                    jobs.app.run_worker_async(
                        queues=[QUEUE],
                        name=f"test-worker-{n}",
                        wait=False,
                        concurrency=concurrency,
                        install_signal_handlers=False,
                        listen_notify=False,
                        delete_jobs=delete_jobs,
                    )
                    for n in range(workers)
                )
            )
            if await asyncio.to_thread(_idle, jobs):
                return rounds


def work_until_idle(
    runtime: Runtime,
    *,
    concurrency: int = 2,
    workers: int = 1,
    timeout: float = 60.0,
    delete_jobs: str = "successful",
) -> int:
    async def main() -> int:
        async with asyncio.timeout(timeout):
            return await _work_until_idle(
                engine_of(runtime),
                concurrency=concurrency,
                workers=workers,
                delete_jobs=delete_jobs,
            )

    return asyncio.run(main())


def eventually(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not reached within {seconds}s: {what}")


# -- the pipeline scenarios of tests/pipeline/test_inbound_flow.py, run by workers --------------


def test_stop_is_confirmed_once_and_recorded(runtime: Runtime, pg_engine: Engine) -> None:
    accept_inbound(pg_engine, sms("STOP"), brand="default")
    work_until_idle(runtime)
    (confirmation,) = outbox(pg_engine)
    assert "unsubscribed" in confirmation and "START" in confirmation
    assert runtime.compliance.consent(PHONE).state.status == "opted_out"


def test_help_is_answered_even_when_opted_out(runtime: Runtime, pg_engine: Engine) -> None:
    accept_inbound(pg_engine, sms("STOP"), brand="default")
    accept_inbound(pg_engine, sms("HELP"), brand="default")
    work_until_idle(runtime)
    confirmation, help_text = outbox(pg_engine)
    assert "unsubscribed" in confirmation
    assert "Reply STOP to cancel" in help_text and "Msg&data rates may apply" in help_text


def test_a_question_gets_the_responders_reply(runtime: Runtime, pg_engine: Engine) -> None:
    accept_inbound(pg_engine, sms("where is my order?"), brand="default")
    work_until_idle(runtime)
    assert outbox(pg_engine) == ["Acme: you said 'where is my order?'. Reply STOP to opt out"]


def test_stop_cancels_replies_queued_before_it(runtime: Runtime, pg_engine: Engine) -> None:
    process = engine_of(runtime).handlers["process_inbound"]
    # Process two questions without running any send job: their replies sit in the queue.
    for body in ("question one", "question two"):
        accepted = accept_inbound(pg_engine, sms(body), brand="default")
        process({"message_id": str(accepted.message_id)})
    stop = accept_inbound(pg_engine, sms("stop texting me"), brand="default")
    process({"message_id": str(stop.message_id)})
    work_until_idle(runtime)  # every job runs now, the earlier sends included
    sent = outbox(pg_engine)
    assert len(sent) == 1 and "unsubscribed" in sent[0]
    with Session(pg_engine) as session:
        replies = session.exec(select(Message).where(Message.purpose == "reply")).all()
    assert sorted(m.status for m in replies) == ["cancelled", "cancelled"]


def test_redelivered_webhook_is_processed_once(runtime: Runtime, pg_engine: Engine) -> None:
    first = accept_inbound(pg_engine, sms("STOP", sid="SM" + "a" * 32), brand="default")
    again = accept_inbound(pg_engine, sms("STOP", sid="SM" + "a" * 32), brand="default")
    assert first.created and not again.created and first.message_id == again.message_id
    work_until_idle(runtime, concurrency=4, workers=2)
    assert len(outbox(pg_engine)) == 1


def test_scheduled_sends_are_released_by_the_periodic_task(
    runtime: Runtime, pg_engine: Engine
) -> None:
    from app.outbound.send import queue_outbound
    from app.storage.messages import add_status, get_or_create_conversation

    with Session(pg_engine) as session:
        conversation = get_or_create_conversation(session, brand="default", phone=PHONE)
        message = queue_outbound(
            session,
            conversation=conversation,
            body="Acme: your order has shipped.",
            category="transactional",
            purpose="api",
            idempotency_key="ship-1",
            provider="console",
        )
        session.flush()
        # As if the gate had held it for quiet hours and its time has now come.
        message.send_after = datetime.now(UTC) - timedelta(minutes=1)
        add_status(session, message, "scheduled", detail="test")
        session.commit()
        message_id = message.id
    work_until_idle(runtime)
    with Session(pg_engine) as session:
        from app.storage.tables import MessageStatus

        steps = session.exec(
            select(MessageStatus)
            .where(MessageStatus.message_id == message_id)
            .order_by(col(MessageStatus.id))
        ).all()
    assert ("queued", "scheduled time reached") in [(s.status, s.detail) for s in steps]
    assert engine_of(runtime).queued() == []  # queued, then released: both sends ran


def test_a_long_queue_keeps_its_order_on_two_workers(
    runtime: Runtime, pg_engine: Engine, responder: EchoResponder
) -> None:
    bodies = [f"question {n}" for n in range(7)]
    for body in bodies:
        accept_inbound(pg_engine, sms(body), brand="default")
    work_until_idle(runtime, concurrency=4, workers=2)
    assert [body for _phone, body in responder.seen] == bodies
    assert len(outbox(pg_engine)) == 7


# -- one queue: procrastinate's, in the caller's transaction -----------------------------------


def test_a_job_commits_or_rolls_back_with_the_text_that_needs_it(
    runtime: Runtime, pg_engine: Engine
) -> None:
    from app.storage.messages import enqueue

    jobs = engine_of(runtime)
    key = conversation_key("default", PHONE)
    with Session(pg_engine) as session:
        enqueue(session, kind="process_inbound", key=key, payload={"message_id": "x"})
        assert jobs.queued(key=key) == []  # not visible before the commit
        session.rollback()
    assert jobs.queued(key=key) == []  # rolled back with the transaction
    accept_inbound(pg_engine, sms("STOP"), brand="default")
    (job,) = jobs.queued(key=key)
    assert (job.task_name, job.lock, job.task_kwargs["kind"]) == (RUN_JOB, key, "process_inbound")
    with Session(pg_engine) as session:  # nothing goes to the embedded engine's table
        assert session.exec(select(Job)).all() == []


def test_a_customers_next_text_queues_behind_one_waiting_for_the_ai(
    runtime: Runtime, pg_engine: Engine, responder: EchoResponder
) -> None:
    """A text left waiting for the AI (as while the models load) holds its customer's next
    texts behind it, even when the AI is ready by then: the processor reads the waiting text
    from the messages, and its job is not due yet, so answering the next text at once would
    answer it first."""
    from app.pipeline.processor import RESPOND_INBOUND, WAITING_FOR_AI
    from app.storage.messages import add_status, enqueue

    first = accept_inbound(pg_engine, sms("first question"), brand="default").message_id
    with Session(pg_engine) as session:  # what the processor does while the AI loads
        message = session.get(Message, first)
        assert message is not None
        add_status(session, message, WAITING_FOR_AI, detail="pass/ai_loading")
        enqueue(
            session,
            kind=RESPOND_INBOUND,
            key=f"ai|{conversation_key('default', PHONE)}",
            payload={"message_id": str(first)},
            run_after=now() + timedelta(seconds=1),
        )
        session.commit()
    accept_inbound(pg_engine, sms("second question"), brand="default")
    work_until_idle(runtime, concurrency=2)
    assert responder.seen == [(PHONE, "first question"), (PHONE, "second question")]
    sent = outbox(pg_engine)
    assert "first question" in sent[0] and "second question" in sent[1]


def test_an_urgent_text_overtakes_other_conversations_but_never_its_own(
    runtime: Runtime, pg_engine: Engine, responder: EchoResponder
) -> None:
    third = "+14155550100"
    accept_inbound(pg_engine, sms("question a", phone=OTHER), brand="default")
    accept_inbound(pg_engine, sms("question b", phone=PHONE), brand="default")
    accept_inbound(pg_engine, sms("STOP", phone=PHONE), brand="default")
    accept_inbound(pg_engine, sms("STOP", phone=third), brand="default")
    jobs = engine_of(runtime)
    priority = {p: [j.priority for j in jobs.queued(key=conversation_key("default", p))]
                for p in (PHONE, third)}  # fmt: skip
    assert priority[third] == [1]  # urgent: ahead of every other conversation's backlog
    assert priority[PHONE] == [0, 0]  # but not ahead of its own earlier text
    work_until_idle(runtime, concurrency=1)
    assert responder.seen == [(OTHER, "question a"), (PHONE, "question b")]
    sent = outbox(pg_engine)
    assert "unsubscribed" in sent[0] and sent[0] == outbox(pg_engine, third)[0]


def test_a_batch_defers_its_jobs_at_commit_and_an_urgent_one_keeps_behind_its_own(
    runtime: Runtime, pg_engine: Engine, responder: EchoResponder
) -> None:
    """A webhook batch defers every job in one statement at its commit: an urgent text must
    still not overtake its customer's earlier text of the same batch (not yet in the queue
    when it is deferred)."""
    third = "+14155550100"
    texts = [
        inbound(sms("question a", phone=OTHER)),
        inbound(sms("question b", phone=PHONE)),
        inbound(sms("STOP", phone=PHONE)),
        inbound(sms("STOP", phone=third)),
    ]
    accept_many(pg_engine, texts, brand="default")
    jobs = engine_of(runtime)
    priority = {p: [j.priority for j in jobs.queued(key=conversation_key("default", p))]
                for p in (PHONE, third, OTHER)}  # fmt: skip
    assert priority == {third: [1], PHONE: [0, 0], OTHER: [0]}
    work_until_idle(runtime, concurrency=1)
    assert responder.seen == [(OTHER, "question a"), (PHONE, "question b")]


def test_a_savepoints_job_goes_with_it_and_the_transactions_jobs_stay(
    runtime: Runtime, pg_engine: Engine
) -> None:
    """A campaign starts each recipient in a savepoint: a failed start's job must leave with
    it, while the jobs deferred before it in the transaction are kept."""
    from app.storage.messages import enqueue

    jobs = engine_of(runtime)
    kept, dropped = conversation_key("default", PHONE), conversation_key("default", OTHER)
    with Session(pg_engine) as session:
        enqueue(session, kind="process_inbound", key=kept, payload={"message_id": "a"})
        with pytest.raises(RuntimeError), session.begin_nested():
            enqueue(session, kind="process_inbound", key=dropped, payload={"message_id": "b"})
            raise RuntimeError("the start failed")
        session.commit()
    assert [j.task_kwargs["payload"] for j in jobs.queued(key=kept)] == [{"message_id": "a"}]
    assert jobs.queued(key=dropped) == []
    with Session(pg_engine) as session:  # a rolled-back transaction leaves nothing to defer
        enqueue(session, kind="process_inbound", key=dropped, payload={"message_id": "c"})
        session.rollback()
        session.commit()
    assert jobs.queued(key=dropped) == []


def test_a_keyword_answer_overtakes_other_customers_sends_but_never_its_own(
    runtime: Runtime, pg_engine: Engine
) -> None:
    from app.outbound.send import queue_outbound
    from app.storage.messages import get_or_create_conversation

    def queue(phone: str, purpose: str, key: str) -> None:
        with Session(pg_engine) as session:
            conversation = get_or_create_conversation(session, brand="default", phone=phone)
            queue_outbound(session, conversation=conversation, body="Acme: a text.",
                           category="transactional", purpose=purpose, idempotency_key=key,
                           provider="console")  # fmt: skip
            session.commit()

    queue(PHONE, "api", "a")
    queue(PHONE, "help", "b")  # behind the customer's own earlier text: no priority
    queue(OTHER, "help", "c")
    jobs = engine_of(runtime)
    priorities = {
        phone: [j.priority for j in jobs.queued(key="send|" + conversation_key("default", phone))]
        for phone in (PHONE, OTHER)
    }
    assert priorities == {PHONE: [0, 0], OTHER: [1]}


def test_a_job_that_cannot_run_yet_waits_without_using_up_its_attempts(
    runtime: Runtime, pg_engine: Engine
) -> None:
    from app.jobs import NotYet

    jobs = engine_of(runtime)
    ran: list[str] = []
    waits = iter(range(7))  # more waits than the 5 attempts a failing job gets

    def record(payload: dict[str, str]) -> None:
        if payload["value"] == "a1" and next(waits, None) is not None:
            raise NotYet("not yet", seconds=0)
        ran.append(payload["value"])

    jobs.handlers["record"] = record
    from app.storage.messages import enqueue

    with Session(pg_engine) as session:
        for value in ("a1", "a2"):
            enqueue(session, kind="record", key="a", payload={"value": value})
        session.commit()
    work_until_idle(runtime, concurrency=2)
    assert ran == ["a1", "a2"]  # the head waited seven times, the job behind it kept its place


# -- ordering under concurrency ----------------------------------------------------------------


def test_each_conversation_is_processed_in_arrival_order_under_concurrency(
    pg_engine: Engine, settings: Settings
) -> None:
    responder = EchoResponder(delay=0.02)
    # Two engines on one database: two worker processes, 4 jobs at once each, and their relays.
    runtimes = [build_runtime(settings, engine=pg_engine, responder=responder) for _ in range(2)]
    arrived: dict[str, list[str]] = {PHONE: [], OTHER: []}

    def arrive(n: int) -> None:
        for phone in (PHONE, OTHER):
            body = f"question {n} from {phone[-4:]}"
            accept_inbound(pg_engine, sms(body, phone=phone), brand="default")
            arrived[phone].append(body)

    def processed() -> int:
        with Session(pg_engine) as session:
            return len(session.exec(select(Message).where(Message.status == "processed")).all())

    for n in range(10):  # waiting before the workers start
        arrive(n)

    async def main() -> None:
        stop = asyncio.Event()
        workers = [asyncio.create_task(engine_of(r).work(stop, concurrency=4)) for r in runtimes]
        for n in range(10, 20):  # arriving while they run, as through the API
            await asyncio.to_thread(arrive, n)
            runtimes[n % 2].jobs.notify()
            await asyncio.sleep(0.01)
        async with asyncio.timeout(60):
            while (
                await asyncio.to_thread(processed) < 40
                or len(await asyncio.to_thread(outbox, pg_engine)) < 40
            ):
                await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*workers), timeout=30)

    asyncio.run(main())
    for phone in (PHONE, OTHER):
        assert [body for p, body in responder.seen if p == phone] == arrived[phone]
        replies = [b.split("'")[1] for b in outbox(pg_engine, phone)]
        assert replies == arrived[phone]  # the sends of a conversation keep its order too
    assert len(responder.seen) == 40  # each text answered once


def test_two_workers_answer_two_conversations_at_the_same_time(
    pg_engine: Engine, settings: Settings
) -> None:
    """A conversation's lock holds back only its own texts. One job at a time each (a process
    answers one text at a time with the local AI, whatever its concurrency), the second worker
    can only take the other customer's text; the two first texts wait for each other, so
    the test passes only if they are answered at the same time."""
    responder = EchoResponder(meet_phones=(PHONE, OTHER))
    runtimes = [build_runtime(settings, engine=pg_engine, responder=responder) for _ in range(2)]
    for phone in (PHONE, OTHER):
        accept_inbound(pg_engine, sms("hello", phone=phone), brand="default")

    async def main() -> None:
        stop = asyncio.Event()
        workers = [asyncio.create_task(engine_of(r).work(stop, concurrency=1)) for r in runtimes]
        async with asyncio.timeout(60):
            while len(await asyncio.to_thread(outbox, pg_engine)) < 2:
                await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*workers), timeout=30)

    asyncio.run(main())
    assert responder.met


# -- crash safety ----------------------------------------------------------------------------


_HANGING_WORKER = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from app.config import Settings
    from app.runtime import build_runtime

    url, mark = sys.argv[1], Path(sys.argv[2])

    class Hang:
        def respond(self, request):
            mark.write_text("busy")
            time.sleep(3600)

    settings = Settings(env="test", execution_mode="procrastinate", database_url=url,
                        data_dir=mark.parent)
    jobs = build_runtime(settings, responder=Hang()).jobs
    jobs.stalled_seconds = 2
    asyncio.run(jobs.work(asyncio.Event(), concurrency=2))
    """
)


def test_a_worker_killed_mid_job_is_recovered_and_the_job_runs_exactly_once(
    runtime: Runtime,
    pg_engine: Engine,
    settings: Settings,
    responder: EchoResponder,
    tmp_path: Path,
) -> None:
    accepted = accept_inbound(pg_engine, sms("where is my order?"), brand="default")
    mark = tmp_path / "busy"
    child = subprocess.Popen(
        [sys.executable, "-c", _HANGING_WORKER, str(settings.database_url), str(mark)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        eventually(mark.exists, 60, "the child worker to start the job")
    finally:
        child.kill()  # SIGKILL mid-job: no cleanup at all
        child.wait(timeout=30)
    jobs = engine_of(runtime)
    (job,) = jobs.queued()
    assert job.status == "doing"  # the dead worker's: nobody else may take it until it stalls
    jobs.stalled_seconds = 2

    async def main() -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(jobs.work(stop, concurrency=2))
        async with asyncio.timeout(45):
            while not await asyncio.to_thread(outbox, pg_engine):
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # room for a wrong second run to show up
        stop.set()
        await asyncio.wait_for(worker, timeout=30)

    asyncio.run(main())
    assert outbox(pg_engine) == ["Acme: you said 'where is my order?'. Reply STOP to opt out"]
    assert responder.seen == [(PHONE, "where is my order?")]
    assert jobs.queued() == []
    with Session(pg_engine) as session:
        message = session.get(Message, accepted.message_id)
    assert message is not None and message.status == "processed"


# -- the app and the command line ------------------------------------------------------------


def test_serve_queues_in_the_request_and_workers_elsewhere_run_it(
    settings: Settings, pg_engine: Engine
) -> None:
    key = "test-key-123"
    configured = settings.model_copy(update={"api_keys": [SecretStr(key)]})
    with TestClient(create_app(configured)) as client:
        response = client.post(
            "/api/v1/messages/inbound",
            json={"provider_message_id": "SM1", "from": PHONE, "to": "+18005550199",
                  "body": "STOP"},
            headers={"Authorization": f"Bearer {key}"},
        )  # fmt: skip
        assert response.status_code == 202, response.text
        jobs = client.app.state.runtime.jobs  # type: ignore[attr-defined]
        # Deferred in the request's own transaction: there as soon as the text is.
        (job,) = jobs.queued(key=conversation_key("default", PHONE))
        assert job.status == "todo"
        assert outbox(pg_engine) == []  # serve does not run jobs in this mode
        # A worker elsewhere (its own engine and procrastinate app) runs what serve deferred.
        work_until_idle(build_runtime(settings, engine=pg_engine))
    (confirmation,) = outbox(pg_engine)
    assert "unsubscribed" in confirmation


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    from app.config import get_settings

    monkeypatch.setenv("SMSDESK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SMSDESK_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_worker_refuses_sqlite(cli_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.cli import app

    monkeypatch.setenv("SMSDESK_EXECUTION_MODE", "procrastinate")
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    # Refused by the settings themselves (every command, `serve` too), naming both variables.
    assert line.startswith("error: SMSDESK_EXECUTION_MODE=procrastinate needs a PostgreSQL")
    assert "SMSDESK_DATABASE_URL" in line and "sqlite" in line


def test_worker_refuses_the_in_process_mode(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    from app.cli import app

    monkeypatch.setenv("SMSDESK_DATABASE_URL", str(settings.database_url))
    result = CliRunner().invoke(app, ["worker", "--processes", "2"])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert "SMSDESK_EXECUTION_MODE=procrastinate" in line


def test_smsdesk_worker_processes_run_the_queue_and_stop_on_sigterm(
    runtime: Runtime, pg_engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    phones = [f"+1212555{n:04d}" for n in range(8)]
    for phone in phones:
        accept_inbound(pg_engine, sms("HELP", phone=phone), brand="default")
    env = os.environ | {
        "SMSDESK_DATABASE_URL": str(settings.database_url),
        "SMSDESK_EXECUTION_MODE": "procrastinate",
        "SMSDESK_ENV": "test",
        "SMSDESK_BOT": "off",  # delivery semantics here; the AI layer has its own tests
        "SMSDESK_DATA_DIR": str(tmp_path),
        "SMSDESK_LOG_LEVEL": "WARNING",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", "--processes", "2", "--concurrency", "2"],
        env=env | {"PYTHONPATH": str(REPO)},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def registered() -> int:
            with pg_engine.connect() as connection:
                return int(
                    connection.execute(
                        text("SELECT count(*) FROM procrastinate_workers")
                    ).scalar_one()
                )

        eventually(lambda: len(outbox(pg_engine)) == len(phones), 60, "every HELP answered")
        eventually(lambda: registered() == 2, 30, "two worker processes")
        accept_inbound(pg_engine, sms("STOP", phone=phones[0]), brand="default")  # a late one
        eventually(lambda: len(outbox(pg_engine)) == len(phones) + 1, 30, "the late STOP")
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, output.decode(errors="replace")[-2000:]
    assert registered() == 0  # both unregistered: a graceful stop


def test_a_worker_carries_on_after_a_database_outage(
    runtime: Runtime, pg_engine: Engine, pg_admin_url: str
) -> None:
    from sqlalchemy import create_engine

    jobs = engine_of(runtime)
    name = pg_engine.url.database
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")

    def outage(down: bool) -> None:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {not down!s}'))
            if down:
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )

    async def main() -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(jobs.work(stop, concurrency=2))
        try:
            await asyncio.to_thread(accept_inbound, pg_engine, sms("STOP"), brand="default")
            async with asyncio.timeout(20):
                while len(await asyncio.to_thread(outbox, pg_engine)) < 1:
                    await asyncio.sleep(0.1)
            await asyncio.to_thread(outage, True)
            await asyncio.sleep(3)
            await asyncio.to_thread(outage, False)
            await asyncio.to_thread(accept_inbound, pg_engine, sms("HELP"), brand="default")
            async with asyncio.timeout(30):
                while len(await asyncio.to_thread(outbox, pg_engine)) < 2:
                    await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.wait_for(worker, timeout=30)

    try:
        asyncio.run(main())
    finally:
        outage(False)
        admin.dispose()
    confirmation, help_text = outbox(pg_engine)
    assert "unsubscribed" in confirmation and "Msg&data rates may apply" in help_text
