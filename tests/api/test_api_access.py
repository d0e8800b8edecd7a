"""Who reaches the integrator API: keys scoped to brands, paging, docs and redirects."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from app.config import Settings
from app.main import create_app
from app.storage.messages import now
from app.storage.tables import Conversation

ALL, ACME, GLOBEX = "all-brands-key", "acme-only-key", "globex-only-key"
PHONE = "+12125550123"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    keys = [SecretStr(ALL), SecretStr(f"{ACME}:acme"), SecretStr(f"{GLOBEX}:globex|initech")]
    configured = settings.model_copy(update={"api_keys": keys, "brand_id": "acme"})
    with TestClient(create_app(configured)) as test_client:
        yield test_client


def _engine(client: TestClient) -> Engine:
    engine: Engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
    return engine


def _conversations(engine: Engine, brand: str, count: int) -> list[str]:
    """`count` conversations of `brand`, one second apart, the newest first in the list."""
    ids = []
    with Session(engine) as session:
        for n in range(count):
            conversation = Conversation(
                brand=brand,
                phone_e164=f"+1212555{n:04d}",
                created_at=now() - timedelta(seconds=n),
            )
            session.add(conversation)
            ids.append(str(conversation.id))
        session.commit()
    return ids


def test_the_compliance_dry_runs_need_a_key(client: TestClient) -> None:
    classify = {"text": "STOP", "from": PHONE}
    gate = {"to": PHONE, "category": "transactional"}
    for path, body in (("classify", classify), ("gate", gate)):
        url = f"/api/v1/compliance/{path}"
        for headers in ({}, auth("wrong")):
            response = client.post(url, json=body, headers=headers)
            assert response.status_code == 401, path
        assert client.post(url, json=body, headers=auth(ACME)).status_code == 200, path
        assert client.post(url, json=body, headers=auth(GLOBEX)).status_code == 403, path


def test_a_key_scoped_to_other_brands_cannot_touch_this_brands_numbers(
    client: TestClient,
) -> None:
    inbound = {"provider_message_id": "scope-1", "from": PHONE, "to": "+18005550199", "body": "hi"}
    outbound = {"to": PHONE, "body": "Your order shipped", "category": "transactional"}
    for method, path, body in (
        ("post", "/api/v1/messages/inbound", inbound),
        ("post", "/api/v1/messages/outbound", outbound),
        ("get", f"/api/v1/contacts/{PHONE}/consent", None),
    ):
        kwargs = {"json": body} if body else {}
        refused = getattr(client, method)(path, headers=auth(GLOBEX), **kwargs)
        assert refused.status_code == 403, path
        assert refused.json()["error"]["code"] == "forbidden"
        assert getattr(client, method)(path, headers=auth(ACME), **kwargs).status_code < 300


def test_conversations_are_listed_and_read_only_for_the_keys_brands(client: TestClient) -> None:
    engine = _engine(client)
    acme, globex = _conversations(engine, "acme", 2), _conversations(engine, "globex", 2)

    def listed(key: str) -> set[str]:
        response = client.get("/api/v1/conversations", headers=auth(key))
        assert response.status_code == 200
        return {row["id"] for row in response.json()}

    assert listed(ALL) == set(acme + globex)
    assert listed(ACME) == set(acme)
    assert listed(GLOBEX) == set(globex)
    url = f"/api/v1/conversations/{acme[0]}/messages"
    assert client.get(url, headers=auth(GLOBEX)).status_code == 404
    assert client.get(url, headers=auth(ACME)).status_code == 200


def test_conversations_come_a_page_at_a_time(client: TestClient) -> None:
    ids = _conversations(_engine(client), "acme", 7)
    seen: list[str] = []
    sizes: list[int] = []
    url: str | None = "/api/v1/conversations?limit=3"
    while url is not None:
        response = client.get(url, headers=auth(ALL))
        assert response.status_code == 200
        sizes.append(len(response.json()))
        seen += [row["id"] for row in response.json()]
        link = response.links.get("next")
        url = link["url"] if link else None
        assert url is None or url.startswith("/api/v1/conversations?")  # relative: no Host
    assert sizes == [3, 3, 1]
    assert seen == ids  # newest first, each once


@pytest.mark.parametrize(
    "query", ["limit=201", "limit=0", "cursor=not-a-cursor", "cursor=" + "x" * 300]
)
def test_a_page_is_bounded_and_its_cursor_checked(client: TestClient, query: str) -> None:
    response = client.get(f"/api/v1/conversations?{query}", headers=auth(ALL))
    assert response.status_code == 400


def test_a_malformed_key_entry_is_refused_naming_the_variable(tmp_path: Path) -> None:
    for entry in ("key:", ":acme", "key:acme|"):
        with pytest.raises(ValidationError, match="SMSDESK_API_KEYS"):
            Settings(data_dir=tmp_path, env="test", api_keys=entry)
    scoped = Settings(data_dir=tmp_path, env="test", api_keys="one, two:acme|globex")
    assert [key.get_secret_value() for key in scoped.api_keys] == ["one", "two:acme|globex"]


def test_the_api_docs_are_not_public_in_production(tmp_path: Path) -> None:
    prod = Settings(env="prod", data_dir=tmp_path / "data", bot="off", worker_process=False)
    with TestClient(create_app(prod)) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404, path
    dev = Settings(env="test", data_dir=tmp_path / "dev", bot="off")
    with TestClient(create_app(dev)) as client:
        assert client.get("/openapi.json").status_code == 200


def test_no_redirect_echoes_the_host_header(client: TestClient) -> None:
    evil = {"Host": "evil.example"}
    for path in ("/api/v1/conversations/", "/healthz/", "/console/login/", "/simulator/"):
        response = client.get(path, headers=evil | auth(ALL), follow_redirects=False)
        assert "evil.example" not in response.headers.get("location", ""), path
    console = client.get("/console", headers=evil, follow_redirects=False)
    assert console.status_code == 308 and console.headers["location"] == "/console/"
