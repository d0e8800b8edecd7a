"""The re-queue runs as one of the job engine's periodic tasks, in both execution modes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from app import clock
from app.config import Settings
from app.console.auth import start_session
from app.handoff.agents import create_agent
from app.handoff.queue import hand_off
from app.handoff.routing import Routing, auto_assign, set_availability
from app.jobs.inprocess import InProcessEngine
from app.jobs.procrastinate_engine import ProcrastinateEngine
from app.runtime import build_runtime
from app.storage.tables import Conversation, HandoffItem

T0 = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "mode", ["inprocess", pytest.param("procrastinate", marks=pytest.mark.postgres)]
)
def test_the_periodic_tasks_take_back_an_unanswered_item(
    mode: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue(
        "sqlite_engine" if mode == "inprocess" else "pg_engine"
    )
    settings = Settings(
        data_dir=tmp_path / "data",
        env="test",
        bot="off",
        execution_mode=mode,  # type: ignore[arg-type]
        database_url=engine.url.render_as_string(hide_password=False),
        requeue_after_minutes=10,
    )
    runtime = build_runtime(settings, engine=engine)
    jobs = runtime.jobs
    runner = jobs.runner if isinstance(jobs, ProcrastinateEngine) else jobs
    assert isinstance(runner, InProcessEngine)
    with clock.frozen(T0) as stopped:
        with Session(engine) as session:
            ann = create_agent(session, email="ann@example.com", password="p" * 12, brands=["acme"])
            set_availability(session, agent=ann, availability="online")
            start_session(session, agent=ann, ip=None)
            conversation = Conversation(brand="acme", phone_e164="+12125550123", created_at=T0)
            session.add(conversation)
            item = hand_off(session, conversation=conversation, reasons=["low_confidence"])
            assert auto_assign(session, routing=Routing.from_settings(settings), item=item) == ann
            session.commit()
            item_id = item.id

        def tick() -> str:
            for periodic in runner.periodic:  # what the engine runs about once a second
                periodic()
            with Session(engine) as session:  # closed again: SQLite has one writer at a time
                found = session.get(HandoffItem, item_id)
                assert found is not None
                return found.status

        stopped.advance(timedelta(minutes=9))
        assert tick() == "claimed"
        stopped.advance(timedelta(minutes=1))
        assert tick() == "open"
