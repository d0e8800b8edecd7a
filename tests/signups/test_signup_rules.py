"""The edges of a signup: the confirmation window, numbers that opted out, single opt-in,
bad input (400 with what is wrong), the daily cap, and a YES while the AI is still loading."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

import app.runtime as runtime_module
from app import clock
from app.config import Settings
from app.main import create_app
from app.pipeline.decision import Answer, Decided, Reply
from app.pipeline.responder import ResponderRequest
from tests.helpers import eventually
from tests.signups.conftest import (
    KEY,
    configured,
    delivered,
    inbound_processed,
    kinds,
    ledger,
    outbound_purposes,
    signup_payload,
    text_in,
)


def status_of(client: TestClient, signup_id: str) -> str:
    return str(client.get(f"/api/v1/signups/{signup_id}").json()["status"])


def app_client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), headers={"Authorization": f"Bearer {KEY}"})


@pytest.fixture
def short_window(settings: Settings, sqlite_engine: Engine) -> Iterator[TestClient]:
    with app_client(configured(settings, sqlite_engine, signup_confirm_window_hours=24)) as c:
        yield c


@pytest.mark.parametrize(
    ("after", "confirmed"),
    [(timedelta(hours=23, minutes=59), True), (timedelta(hours=24, minutes=1), False)],
)
def test_a_yes_confirms_only_inside_the_configured_window(
    short_window: TestClient, frozen: clock.FrozenClock, after: timedelta, confirmed: bool
) -> None:
    client = short_window
    signup = client.post("/api/v1/signups", json=signup_payload()).json()
    assert signup["expires_at"] == "2026-06-11T18:00:00Z"
    frozen.advance(after)
    text_in(client, "yes")
    eventually(lambda: inbound_processed(client) == 1)
    assert status_of(client, signup["id"]) == ("confirmed" if confirmed else "expired")
    assert ("consent_captured" in kinds(client)) is confirmed
    # Late, the YES is what it always was: passed on (no keyword while subscribed), no reply.
    assert ("opt_in_confirmation" in outbound_purposes(client)) is confirmed


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)  # fmt: skip
def test_an_opted_out_number_gets_no_text_until_it_texts_yes_itself(
    client: TestClient, frozen: clock.FrozenClock
) -> None:
    text_in(client, "STOP")
    eventually(lambda: len(delivered(client)) == 1)  # the opt-out confirmation
    frozen.advance(timedelta(days=2))

    response = client.post("/api/v1/signups", json=signup_payload())
    assert response.status_code == 201, response.text
    signup = response.json()
    assert (signup["status"], signup["request_sent"]) == ("pending", False)
    assert "opted_out" in signup["request_note"]
    assert "signup_request" not in outbound_purposes(client)  # QH-7: the gate says no

    frozen.advance(timedelta(hours=1))
    text_in(client, "YES")  # the customer, from the phone: opt-in keyword (§4) + confirmation
    eventually(lambda: status_of(client, signup["id"]) == "confirmed")
    eventually(lambda: len(delivered(client)) == 2)
    assert kinds(client) == ["opt_out", "opt_in", "consent_captured"]
    # One confirmation, the signup's (it names what was signed up for): not START's as well.
    assert outbound_purposes(client).count("opt_in_confirmation") == 1
    assert "marketing texts" in delivered(client)[1]


def test_single_opt_in_records_consent_from_the_call_and_confirms_once(
    settings: Settings, sqlite_engine: Engine
) -> None:
    with app_client(configured(settings, sqlite_engine, signup_mode="single")) as client:
        response = client.post("/api/v1/signups", json=signup_payload())
        assert response.status_code == 201, response.text
        signup = response.json()
        assert (signup["status"], signup["mode"], signup["request_sent"]) == (
            "confirmed", "single", False)  # fmt: skip
        eventually(lambda: len(delivered(client)) == 1)
        assert delivered(client)[0].startswith("Acme: You're subscribed to")
        (event,) = [e for e in ledger(client) if e.event_type == "consent_captured"]
        assert (event.rule, event.channel, event.provider_message_id) == (
            "single_opt_in", "web", None)  # fmt: skip
        assert event.evidence["disclosure_version"] == "2026-11-v3"
        assert event.evidence["ip"] == "203.0.113.7"
        assert client.post("/api/v1/signups", json=signup_payload()).json()["duplicate"] is True
        assert outbound_purposes(client) == ["opt_in_confirmation"]


def test_single_opt_in_never_overrides_a_standing_opt_out(
    settings: Settings, sqlite_engine: Engine
) -> None:
    with app_client(configured(settings, sqlite_engine, signup_mode="single")) as client:
        text_in(client, "STOP")
        eventually(lambda: inbound_processed(client) == 1)
        signup = client.post("/api/v1/signups", json=signup_payload()).json()
        assert (signup["mode"], signup["status"], signup["request_sent"]) == (
            "double", "pending", False)  # fmt: skip
        assert kinds(client) == ["opt_out"]


def _without(key: str) -> dict[str, Any]:
    payload = signup_payload()
    del payload[key]
    return payload


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (signup_payload(phone="555-0123"), ""),
        (signup_payload(categories=[]), "categories"),
        (signup_payload(categories=["promos"]), "categories"),
        (signup_payload(categories=["marketing", "marketing"]), "categories"),
        (signup_payload(disclosure={"text": "Texts from Acme", "version": "v1"}),
         "not_a_condition_of_purchase"),
        (signup_payload(disclosure={"text": "", "version": "v1"}), "disclosure"),
        (signup_payload(source={"channel": "web"}), "form_url"),
        (signup_payload(source={"channel": "web", "form_url": "javascript:alert(1)"}), "form_url"),
        (signup_payload(source={"channel": "fax"}), "channel"),
        (signup_payload(source={"channel": "paper"}), "reference"),
        (signup_payload(ip="not-an-ip"), "ip"),
        (_without("ip"), "ip"),
        (signup_payload(brand="other-brand"), "brand"),
        (signup_payload(submitted_at="2026-06-10T17:59:30"), "submitted_at"),
        (signup_payload(surprise=True), "surprise"),
        (signup_payload(user_agent="Mozilla\u0000"), "user_agent"),
    ],
)  # fmt: skip
def test_bad_input_is_400_naming_what_is_wrong(
    client: TestClient, payload: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/signups", json=payload)
    assert response.status_code == 400, response.text
    assert field in response.text
    assert delivered(client) == [] and outbound_purposes(client) == []


def test_a_number_gets_at_most_three_requests_a_day(client: TestClient) -> None:
    for version in ("v1", "v2", "v3"):
        disclosure = {**signup_payload()["disclosure"], "version": version}
        assert client.post("/api/v1/signups", json=signup_payload(disclosure=disclosure)).is_success
    disclosure = {**signup_payload()["disclosure"], "version": "v4"}
    response = client.post("/api/v1/signups", json=signup_payload(disclosure=disclosure))
    assert response.status_code == 429
    assert "SMSDESK_SIGNUP_REQUESTS_PER_DAY" in response.text


def test_an_unknown_signup_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/signups/5f0c6a8e-1111-4e5e-9a59-3f6c2b0f9d11")
    assert response.status_code == 404


def test_signups_need_an_api_key(client: TestClient) -> None:
    response = client.post("/api/v1/signups", json=signup_payload(), headers={"Authorization": ""})
    assert response.status_code == 401


class SlowToLoad:
    """A responder whose models load until the test releases them (like the AI layer)."""

    def __init__(self) -> None:
        self.loaded = threading.Event()

    def warm_up(self) -> None:
        if not self.loaded.wait(timeout=120):
            raise RuntimeError("the test never released the models")

    def respond(self, request: ResponderRequest) -> Decided:
        self.warm_up()
        text = f"Acme: you said {request.body!r}."
        return Decided(Reply((Answer("echo", text),)), {"entries": ["echo"], "draft": text})


def test_a_yes_is_confirmed_while_the_ai_is_still_loading(
    settings: Settings, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    loading = SlowToLoad()
    monkeypatch.setattr(runtime_module, "make_responder", lambda _settings: loading)
    try:
        with app_client(configured(settings, sqlite_engine, bot="ai")) as client:
            signup = client.post("/api/v1/signups", json=signup_payload()).json()
            text_in(client, "What time do you open?")  # needs the AI: waits for it
            text_in(client, "YES")
            eventually(lambda: status_of(client, signup["id"]) == "confirmed", 20)
            eventually(lambda: "opt_in_confirmation" in outbound_purposes(client))
            assert not loading.loaded.is_set()  # confirmed while the models were loading
    finally:
        loading.loaded.set()


def test_when_the_provider_answers_keywords_the_yes_still_records_consent(
    settings: Settings, sqlite_engine: Engine
) -> None:
    provider_answers = configured(settings, sqlite_engine, provider_handles_keywords=True)
    with app_client(provider_answers) as client:
        signup = client.post("/api/v1/signups", json=signup_payload()).json()
        text_in(client, "YES")
        eventually(lambda: status_of(client, signup["id"]) == "confirmed")
        # PROV-1 (b): the provider replied to the YES; one confirmation, not two.
        assert outbound_purposes(client) == ["signup_request"]
        (event,) = [e for e in ledger(client) if e.event_type == "consent_captured"]
        assert event.evidence["confirmation_by"] == "provider (PROV-1 b)"


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)  # fmt: skip
def test_concurrent_posts_of_one_signup_send_one_request(client: TestClient) -> None:
    codes: list[int] = []
    ids: set[str] = set()

    def post() -> None:
        response = client.post("/api/v1/signups", json=signup_payload())
        codes.append(response.status_code)
        ids.add(response.json().get("id", ""))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(codes) == [200, 200, 200, 201] and len(ids) == 1
    eventually(lambda: len(delivered(client)) == 1)
    assert outbound_purposes(client) == ["signup_request"]
