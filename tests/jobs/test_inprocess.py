"""The embedded engine on a real database: order per key, retries, and no job lost to an outage."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.jobs.inprocess import InProcessEngine
from app.storage.messages import enqueue
from app.storage.tables import Job


def add_jobs(engine: Engine, *items: tuple[str, str]) -> None:
    with Session(engine) as session:
        for key, value in items:
            enqueue(session, kind="record", key=key, payload={"value": value})
        session.commit()


def states(engine: Engine) -> list[tuple[str, str, int]]:
    with Session(engine) as session:
        jobs = session.exec(select(Job).order_by(Job.id)).all()  # type: ignore[arg-type]
        return [(job.payload["value"], job.state, job.attempts) for job in jobs]


def test_jobs_of_one_key_run_in_id_order_and_a_failing_head_holds_its_key(engine: Engine) -> None:
    ran: list[str] = []

    def record(payload: dict[str, Any]) -> None:
        if payload["value"] == "a1" and "a1" not in ran:
            ran.append("a1")
            raise RuntimeError("first attempt fails")
        ran.append(payload["value"])

    jobs = InProcessEngine(engine, handlers={"record": record})
    add_jobs(engine, ("a", "a1"), ("a", "a2"), ("b", "b1"))

    assert jobs.drain() == 2  # a1 fails and waits for its backoff; a2 must wait behind it
    assert ran == ["a1", "b1"]
    assert states(engine) == [("a1", "pending", 1), ("a2", "pending", 0), ("b1", "done", 1)]


def test_a_job_whose_outcome_could_not_be_recorded_runs_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    jobs = InProcessEngine(engine, handlers={"record": lambda p: ran.append(p["value"])})
    add_jobs(engine, ("a", "a1"))
    real_finish = jobs.finish

    def database_gone(job: Job, error: BaseException | None = None) -> None:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(jobs, "finish", database_gone)
    with pytest.raises(ConnectionError):
        jobs.run_one()
    assert states(engine) == [("a1", "running", 1)]
    assert jobs.drain() == 0  # a running head holds its key

    monkeypatch.setattr(jobs, "finish", real_finish)
    assert jobs.recover_orphans() == 1
    assert jobs.drain() == 1
    assert ran == ["a1", "a1"]  # handlers are idempotent: at least once, taking effect once
    assert states(engine) == [("a1", "done", 2)]


def test_workers_outlive_database_errors(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    jobs = InProcessEngine(
        engine, handlers={"record": lambda p: ran.append(p["value"])}, workers=2, poll_seconds=0.05
    )
    real_claim = jobs.claim
    failures = iter(range(6))

    def flaky_claim(key: str | None = None) -> Job | None:
        if next(failures, None) is not None:
            raise ConnectionError("the database is restarting")
        return real_claim(key)

    monkeypatch.setattr(jobs, "claim", flaky_claim)
    add_jobs(engine, ("a", "a1"), ("b", "b1"))

    async def serve() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(jobs.run(stop))
        for _ in range(200):
            if len(ran) == 2:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(serve())
    assert sorted(ran) == ["a1", "b1"]


def test_an_urgent_job_overtakes_other_keys_but_never_its_own(engine: Engine) -> None:
    ran: list[str] = []
    jobs = InProcessEngine(engine, handlers={"record": lambda p: ran.append(p["value"])})
    with Session(engine) as session:
        enqueue(session, kind="record", key="a", payload={"value": "a1"})
        enqueue(session, kind="record", key="b", payload={"value": "b1"})
        enqueue(session, kind="record", key="b", payload={"value": "b2-stop"}, priority=1)
        enqueue(session, kind="record", key="c", payload={"value": "c1-stop"}, priority=1)
        session.commit()

    jobs.drain()
    # c's STOP goes first; b's STOP still waits for b's earlier text.
    assert ran == ["c1-stop", "a1", "b1", "b2-stop"]


def test_a_job_that_cannot_run_yet_waits_without_using_up_its_attempts(engine: Engine) -> None:
    from datetime import timedelta

    from app import clock
    from app.jobs import NotYet

    loaded = False
    ran: list[str] = []

    def record(payload: dict[str, Any]) -> None:
        if not loaded:
            raise NotYet("the AI is loading", seconds=30)
        ran.append(payload["value"])

    jobs = InProcessEngine(engine, handlers={"record": record}, max_attempts=2)
    add_jobs(engine, ("a", "a1"), ("a", "a2"))
    with clock.frozen(clock.now()) as stopped:
        for _ in range(5):  # more waits than attempts allowed: none of them counts
            assert jobs.drain() == 1  # the head waits; the job behind it keeps its place
            assert states(engine) == [("a1", "pending", 0), ("a2", "pending", 0)]
            stopped.advance(timedelta(seconds=30))
        loaded = True
        assert jobs.drain() == 2
    assert ran == ["a1", "a2"]
    assert states(engine) == [("a1", "done", 1), ("a2", "done", 1)]
