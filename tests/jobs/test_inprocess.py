"""The embedded engine on a real database: order per key, retries, and no job lost to an outage."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app import clock
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

    with clock.frozen(clock.now()):  # a1's backoff cannot run out during the drain
        assert jobs.drain() == 2  # a1 fails and waits for its backoff; a2 must wait behind it
    assert ran == ["a1", "b1"]
    assert states(engine) == [("a1", "pending", 1), ("a2", "pending", 0), ("b1", "done", 1)]


def test_a_job_whose_outcome_could_not_be_recorded_runs_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    jobs = InProcessEngine(engine, handlers={"record": lambda p: ran.append(p["value"])})
    add_jobs(engine, ("a", "a1"))
    real_finish = jobs.finish_batch

    def database_gone(outcomes: object) -> None:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(jobs, "finish_batch", database_gone)
    with pytest.raises(ConnectionError):
        jobs.run_one()
    assert states(engine) == [("a1", "running", 1)]
    assert jobs.drain() == 0  # a running head holds its key

    monkeypatch.setattr(jobs, "finish_batch", real_finish)
    assert jobs.recover_orphans() == 1
    assert jobs.drain() == 1
    assert ran == ["a1", "a1"]  # handlers are idempotent: at least once, taking effect once
    assert states(engine) == [("a1", "done", 2)]


def test_workers_outlive_database_errors(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    jobs = InProcessEngine(
        engine, handlers={"record": lambda p: ran.append(p["value"])}, workers=2, poll_seconds=0.05
    )
    real_claim = jobs.claim_batch
    failures = iter(range(6))

    def flaky_claim(limit: int, *, key: str | None = None) -> list[Job]:
        if next(failures, None) is not None:
            raise ConnectionError("the database is restarting")
        return real_claim(limit, key=key)

    monkeypatch.setattr(jobs, "claim_batch", flaky_claim)
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


def test_a_batch_takes_one_head_per_key_and_keeps_each_keys_order(engine: Engine) -> None:
    ran: list[str] = []
    jobs = InProcessEngine(engine, handlers={"record": lambda p: ran.append(p["value"])})
    add_jobs(engine, ("a", "a1"), ("a", "a2"), ("b", "b1"), ("c", "c1"), ("b", "b2"))
    with Session(engine) as session:
        enqueue(session, kind="record", key="d", payload={"value": "d1-stop"}, priority=1)
        session.commit()

    assert jobs.run_batch(8) == 4  # the heads of a, b, c, d; the urgent one first
    assert ran == ["d1-stop", "a1", "b1", "c1"]
    assert jobs.run_batch(8) == 2
    assert ran[4:] == ["a2", "b2"]
    assert jobs.run_batch(8) == 0
    assert all(state == "done" for _, state, _ in states(engine))


def test_a_failing_job_in_a_batch_is_recorded_and_the_others_run(engine: Engine) -> None:
    from app.jobs import NotYet

    ran: list[str] = []

    def record(payload: dict[str, Any]) -> None:
        if payload["value"] == "b1":
            raise RuntimeError("b1 breaks")
        if payload["value"] == "c1":
            raise NotYet("not yet", seconds=30)
        ran.append(payload["value"])

    jobs = InProcessEngine(engine, handlers={"record": record})
    add_jobs(engine, ("a", "a1"), ("b", "b1"), ("b", "b2"), ("c", "c1"), ("d", "d1"))

    assert jobs.run_batch(8) == 4
    assert ran == ["a1", "d1"]
    assert states(engine) == [
        ("a1", "done", 1),
        ("b1", "pending", 1),  # retried after its backoff, its key held behind it
        ("b2", "pending", 0),
        ("c1", "pending", 0),  # waiting does not use up an attempt
        ("d1", "done", 1),
    ]
    with Session(engine) as session:
        failed = next(j for j in session.exec(select(Job)).all() if j.payload["value"] == "b1")
        assert failed.last_error is not None and "b1 breaks" in failed.last_error


class Preparing:
    """A handler that reads its jobs of a batch together first."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.prepared: list[list[str]] = []
        self.ran: list[tuple[str, bool]] = []
        self.open = False

    def __call__(self, payload: dict[str, Any]) -> None:
        self.ran.append((payload["value"], self.open))

    @contextlib.contextmanager
    def _context(self) -> Iterator[None]:
        self.open = True
        try:
            yield
        finally:
            self.open = False

    def prepare(
        self, payloads: Sequence[dict[str, Any]]
    ) -> contextlib.AbstractContextManager[None]:
        if self.fail:
            raise RuntimeError("the shared read failed")
        self.prepared.append([p["value"] for p in payloads])
        return self._context()


def test_a_handler_prepares_its_jobs_of_a_batch_and_runs_them_without_it_if_that_fails(
    engine: Engine,
) -> None:
    handler = Preparing()
    jobs = InProcessEngine(engine, handlers={"record": handler})
    add_jobs(engine, ("a", "a1"), ("b", "b1"), ("a", "a2"))
    assert jobs.run_batch(8) == 2
    assert handler.prepared == [["a1", "b1"]]
    assert handler.ran == [("a1", True), ("b1", True)]
    assert not handler.open
    assert jobs.run_batch(8) == 1
    assert handler.prepared == [["a1", "b1"]]  # a lone job needs no shared read

    broken = Preparing(fail=True)
    jobs = InProcessEngine(engine, handlers={"record": broken})
    add_jobs(engine, ("e", "e1"), ("f", "f1"))
    assert jobs.run_batch(8) == 2
    assert broken.ran == [("e1", False), ("f1", False)]
    assert [s for v, s, _ in states(engine) if v in ("e1", "f1")] == ["done", "done"]


@pytest.mark.parametrize("one_at_a_time", [True, False])
def test_cpu_bound_kinds_run_one_batch_at_a_time_and_the_others_alongside(
    engine: Engine, one_at_a_time: bool
) -> None:
    """Two workers with a CPU-bound job each: the second starts only after the first ends.

    Each handler waits for the other to be running too. With the kinds run one at a time that
    never happens (the first gives up after 5 s, then the second finds the meeting called off;
    a slow machine only makes that case wait longer for nothing). Without the rule (the False
    case) the two meet: there the wait is long, so a loaded machine that is slow to start a
    thread cannot fail it, and neither can a second job that ends before the first begins (a
    one-sided wait let it: `most` stayed 1)."""
    import threading

    inside, most = [0], [0]
    guard = threading.Lock()
    meeting = threading.Barrier(2, timeout=5 if one_at_a_time else 60)

    def think(payload: dict[str, Any]) -> None:
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        with contextlib.suppress(threading.BrokenBarrierError):
            meeting.wait()
        with guard:
            inside[0] -= 1

    jobs = InProcessEngine(
        engine,
        handlers={"record": think},
        batch_size=1,
        one_at_a_time=frozenset({"record"}) if one_at_a_time else frozenset(),
    )
    add_jobs(engine, ("a", "a1"), ("b", "b1"))
    first = threading.Thread(target=jobs.run_batch)
    first.start()
    second = threading.Thread(target=jobs.run_batch)
    second.start()
    first.join(timeout=90)
    second.join(timeout=90)
    assert most[0] == (1 if one_at_a_time else 2)
    assert [state for _, state, _ in states(engine)] == ["done", "done"]


def test_a_wait_whose_wake_up_came_while_it_ran_runs_again_at_once(engine: Engine) -> None:
    """The AI's warm-up ends while a job is finding it still loading: the wake-up moves only
    pending jobs, so it missed this running one. Its `NotYet` says what it waits for, and the
    engine asks once the wait is recorded: the job runs again now, not in an hour."""
    from app.jobs import NotYet

    loaded, ran = [False], []

    def respond(payload: dict[str, Any]) -> None:
        if not loaded[0]:
            loaded[0] = True  # the warm-up ends (and its wake-up runs) while this job runs
            raise NotYet("loading", seconds=3600, arrived=lambda: loaded[0])
        ran.append(payload["value"])

    jobs = InProcessEngine(engine, handlers={"record": respond})
    add_jobs(engine, ("a", "a1"))
    assert jobs.run_batch() == 1 and ran == []
    assert jobs.run_batch() == 1 and ran == ["a1"]  # runnable at once
    assert states(engine) == [("a1", "done", 1)]  # the wait did not count as an attempt

    loaded[0], ran = False, []  # control: a wait whose cause has not come stays put
    never = InProcessEngine(
        engine,
        handlers={"record": lambda p: (_ for _ in ()).throw(NotYet("x", seconds=3600))},
    )
    add_jobs(engine, ("b", "b1"))
    assert never.run_batch() == 1
    assert never.run_batch() == 0  # waits its hour
