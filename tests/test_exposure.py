"""No way in through the development defaults: demo agents, dev secrets and the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from sqlmodel import Session, select
from typer.testing import CliRunner

from app import cli
from app.config import Settings
from app.demo import DEMO_ACCOUNTS, banner, seed_demo
from app.main import create_app
from app.storage import make_engine, migrate
from app.storage.tables import Agent, AuditEntry

ADMIN = DEMO_ACCOUNTS[0]


def _serve(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    started: list[object] = []
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.append(k))
    result = CliRunner().invoke(cli.app, ["serve", *args])
    if result.exit_code != 0:
        assert not started, "the server must not start"
    return result.exit_code, result.output


def _seeded_dev_database(tmp_path: Path) -> Settings:
    """A database first used by `make run` (the demo agents seeded), and prod settings on it."""
    dev = Settings(env="dev", data_dir=tmp_path / "data", demo=True, bot="off", workers=1)
    engine = make_engine(dev.db_url)
    migrate(engine)
    try:
        seed_demo(dev, engine)
    finally:
        engine.dispose()
    return Settings(env="prod", data_dir=tmp_path / "data", bot="off", worker_process=False)


def test_prod_on_a_make_run_database_disables_the_public_demo_sign_ins(tmp_path: Path) -> None:
    prod = _seeded_dev_database(tmp_path)
    with TestClient(create_app(prod), base_url="https://testserver") as client:
        for account in DEMO_ACCOUNTS:
            response = client.post(
                "/console/login", data={"email": account.email, "password": account.password}
            )
            assert response.status_code == 401, account.email
        engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
        with Session(engine) as session:
            agents = session.exec(select(Agent)).all()
            assert agents and not any(agent.active for agent in agents)
            retired = session.exec(
                select(AuditEntry).where(AuditEntry.action == "demo.account_disabled")
            ).all()
            assert {entry.target for entry in retired} == {a.email for a in DEMO_ACCOUNTS}


def test_serving_beyond_loopback_with_the_dev_api_key_is_refused(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = Settings(env="dev", data_dir=settings.data_dir, demo=False, simulator=False)
    code, output = _serve(dev, monkeypatch, "--host", "0.0.0.0")
    assert code != 0
    assert "SMSDESK_API_KEYS" in output and "0.0.0.0" in output
    assert len(output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("update", "variable"),
    [
        ({"twilio_auth_token": SecretStr("smsdesk-dev-auth-token")}, "SMSDESK_TWILIO_AUTH_TOKEN"),
        ({"demo": True}, "SMSDESK_DEMO"),
        ({"simulator": True}, "SMSDESK_SIMULATOR"),
    ],
)
def test_each_development_default_is_refused_beyond_loopback(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, update: dict[str, object], variable: str
) -> None:
    safe = {"api_keys": [SecretStr("own-key-0123456789")], "demo": False, "simulator": False}
    configured = settings.model_copy(update=safe | update)
    code, output = _serve(configured, monkeypatch, "--host", "192.0.2.10")
    assert code != 0 and variable in output, output


def test_a_safe_configuration_serves_beyond_loopback_and_says_where(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    safe = {"api_keys": [SecretStr("own-key-0123456789")], "demo": False, "simulator": False}
    code, output = _serve(settings.model_copy(update=safe), monkeypatch, "--host", "0.0.0.0")
    assert code == 0, output
    assert "listening on 0.0.0.0:8000 (reachable from other machines)" in output


def test_the_banner_names_the_real_address(settings: Settings) -> None:
    text = "\n".join(banner(settings, host="0.0.0.0", port=9000, credentials=None))
    assert "0.0.0.0:9000" in text and "reachable from other machines" in text
    local = "\n".join(banner(settings, host="127.0.0.1", port=9000, credentials=None))
    assert "127.0.0.1:9000 (this machine only)" in local


def test_production_has_no_simulator_and_refuses_one(tmp_path: Path) -> None:
    prod = Settings(env="prod", data_dir=tmp_path / "data", bot="off", worker_process=False)
    assert prod.simulator is False
    with TestClient(create_app(prod)) as client:
        assert client.get("/simulator").status_code == 404
        assert client.get("/simulator/thread", params={"phone": "+14155550131"}).status_code == 404
    with pytest.raises(ValidationError, match="SMSDESK_SIMULATOR"):
        Settings(env="prod", data_dir=tmp_path / "data", simulator=True)
