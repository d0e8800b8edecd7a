"""Demo seeding: agents once, texts once and through the real pipeline, never in production."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from typer.testing import CliRunner

from app import cli
from app.config import Settings
from app.demo import (
    DEMO_ACCOUNTS,
    DEMO_TEXTS,
    DemoRefused,
    banner,
    seed_demo,
    start_up,
)
from app.handoff.agents import authenticate
from app.jobs.inprocess import InProcessEngine
from app.runtime import Runtime, build_runtime
from app.storage import make_engine, migrate
from app.storage.tables import Agent, Conversation, HandoffItem, Message


@pytest.fixture
def demo_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"demo": True, "brand_id": "acme"})


@pytest.fixture
def runtime(demo_settings: Settings) -> Iterator[Runtime]:
    built = build_runtime(demo_settings)
    yield built
    built.close()


def count(engine: Engine, table: type[Agent] | type[Message] | type[Conversation]) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(table)).one()


def test_seeding_twice_creates_the_agents_and_texts_once(runtime: Runtime) -> None:
    first = seed_demo(runtime.settings, runtime.engine)
    assert set(first.created_agents) == {a.email for a in DEMO_ACCOUNTS}
    assert first.seeded_texts == len(DEMO_TEXTS) >= 3
    again = seed_demo(runtime.settings, runtime.engine)
    assert again.created_agents == () and again.seeded_texts == 0
    assert again.accounts == first.accounts
    assert count(runtime.engine, Agent) == 3
    assert count(runtime.engine, Message) == len(DEMO_TEXTS)
    assert count(runtime.engine, Conversation) == len(DEMO_TEXTS)


def test_demo_passwords_sign_in_with_their_roles_and_brand(runtime: Runtime) -> None:
    seed_demo(runtime.settings, runtime.engine)
    roles = {}
    with Session(runtime.engine) as session:
        for account in DEMO_ACCOUNTS:
            agent = authenticate(session, email=account.email, password=account.password)
            assert agent is not None, account.email
            assert agent.brands == ["acme"]
            roles[agent.email] = agent.role
            assert authenticate(session, email=account.email, password="wrong-password-1") is None
    assert roles == {
        "admin@demo.smsdesk": "admin",
        "agent@demo.smsdesk": "agent",
        "supervisor@demo.smsdesk": "supervisor",
    }


def test_an_existing_agent_is_left_alone(runtime: Runtime) -> None:
    seed_demo(runtime.settings, runtime.engine)
    with Session(runtime.engine) as session:
        admin = session.exec(select(Agent).where(Agent.email == "admin@demo.smsdesk")).one()
        admin.active = False  # an admin disabled the demo account
        session.add(admin)
        session.commit()
    assert seed_demo(runtime.settings, runtime.engine).created_agents == ()
    with Session(runtime.engine) as session:
        assert (
            authenticate(session, email="admin@demo.smsdesk", password="demo-admin-password")
            is None
        )


def test_demo_texts_go_through_the_real_pipeline(runtime: Runtime) -> None:
    seed_demo(runtime.settings, runtime.engine)
    assert isinstance(runtime.jobs, InProcessEngine)
    assert runtime.jobs.drain() >= len(DEMO_TEXTS)
    consent = runtime.compliance.ledger
    with consent.session() as session:
        stop = consent.consent(session, brand="acme", phone="+14155550134")
        assert stop.state.status == "opted_out"
    with Session(runtime.engine) as session:
        outbound = session.exec(select(Message).where(Message.direction == "outbound")).all()
        items = session.exec(select(HandoffItem)).all()
    # bot="off" in tests: the other customers wait for a person, and each is told so once.
    assert len(items) == len(DEMO_TEXTS) - 1
    assert Counter(m.purpose for m in outbound) == {
        "opt_out_confirmation": 1,
        "handoff_ack": len(DEMO_TEXTS) - 1,
    }
    acknowledged = sorted(str(m.conversation_id) for m in outbound if m.purpose == "handoff_ack")
    assert acknowledged == sorted(str(item.conversation_id) for item in items)


def test_production_refuses_the_demo(tmp_path: Path) -> None:
    prod = Settings(env="prod", data_dir=tmp_path / "data", demo=True)
    engine = make_engine(prod.db_url)
    migrate(engine)
    try:
        with pytest.raises(DemoRefused, match="SMSDESK_ENV=prod"):
            seed_demo(prod, engine)
        assert count(engine, Agent) == 0 and count(engine, Message) == 0
    finally:
        engine.dispose()


def test_a_real_provider_refuses_the_demo(demo_settings: Settings, tmp_path: Path) -> None:
    twilio = demo_settings.model_copy(update={"sms_provider": "twilio"})
    with pytest.raises(DemoRefused, match="console SMS provider"):
        start_up(twilio, host="127.0.0.1", port=8000)
    assert not Path(twilio.db_url.removeprefix("sqlite:///")).exists()  # refused before opening


def test_banner_without_the_demo_shows_no_credentials(settings: Settings) -> None:
    lines = banner(settings, host="0.0.0.0", port=9000, credentials=None)
    text = "\n".join(lines)
    assert "http://127.0.0.1:9000/console/" in text
    assert "http://127.0.0.1:9000/simulator" in text  # console provider: the simulator is on
    assert "password" not in text
    off = settings.model_copy(update={"simulator": False})
    assert "/simulator" not in "\n".join(banner(off, host="::", port=80, credentials=None))


def test_serve_seeds_the_demo_and_prints_where_to_sign_in(
    demo_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: dict[str, object] = {}
    monkeypatch.setattr(cli, "get_settings", lambda: demo_settings)
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: started.update(kwargs))
    result = CliRunner().invoke(cli.app, ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8123/console/" in result.output
    assert "http://127.0.0.1:8123/simulator" in result.output
    for account in DEMO_ACCOUNTS:
        line = next(x for x in result.output.splitlines() if account.email in x)
        assert account.password in line and account.role in line
    assert f"Seeded {len(DEMO_TEXTS)} demo conversations" in result.output
    assert started["port"] == 8123 and started["host"] == "127.0.0.1"
    engine = make_engine(demo_settings.db_url)
    try:
        assert count(engine, Agent) == 3
    finally:
        engine.dispose()
    again = CliRunner().invoke(cli.app, ["serve", "--port", "8123"])
    assert again.exit_code == 0 and "Seeded" not in again.output
    assert "agent@demo.smsdesk" in again.output  # the sign-ins are printed on every start


def test_serve_refuses_the_demo_in_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prod = Settings(env="prod", data_dir=tmp_path / "data", demo=True)
    monkeypatch.setattr(cli, "get_settings", lambda: prod)
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("must not start"))
    result = CliRunner().invoke(cli.app, ["serve"])
    assert result.exit_code != 0
    assert "SMSDESK_DEMO" in result.output
    assert not (tmp_path / "data" / "smsdesk.db").exists()
