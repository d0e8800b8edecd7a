"""Trying a flow in the phone simulator: sent to the simulated phone, answered on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.config import Settings
from app.main import create_app
from app.storage.tables import FlowRun, Message
from tests.console.conftest import app_engine
from tests.console.flow_stub import StubStarter, wire_starter, write_flows
from tests.helpers import eventually

PHONE = "+12125550142"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Test settings with the stand-in catalogue in a flows folder of the test's own."""
    return Settings(
        data_dir=tmp_path / "data", env="test", bot="off", flows_dir=write_flows(tmp_path / "fl")
    )


@pytest.fixture
def starter(client: TestClient) -> Iterator[StubStarter]:
    """The engine's `start_flow` stand-in, wired into the app."""
    yield from wire_starter(client)


def try_flow(client: TestClient, flow: str, variables: str, **headers: str) -> str:
    response = client.post(
        "/simulator/flow",
        data={"phone": PHONE, "flow": flow, "variables": variables, "form_key": uuid.uuid4().hex},
        headers={**HTMX, **headers},
    )
    assert response.status_code == 200, response.text
    return response.text


def texts(client: TestClient) -> list[Message]:
    with Session(app_engine(client)) as session:
        return list(session.exec(select(Message).order_by(col(Message.created_at))).all())


def test_the_page_offers_every_flow_with_example_values(client: TestClient) -> None:
    html = client.get("/simulator", params={"phone": PHONE}).text
    assert 'id="sim-flow-form"' in html and 'hx-post="/simulator/flow"' in html
    assert ">appointment_reminder (transactional)<" in html
    assert ">lead_qualification (marketing)<" in html
    assert "name=Sam\ndate=Tue 12 May\ntime=10:00 am" in html  # sample values, ready to send
    other = client.get(
        "/simulator/flow-form", params={"phone": PHONE, "flow": "lead_qualification"}
    ).text
    assert 'value="lead_qualification" selected' in other and "name=" in other
    # Flows without examples of their own get the simulator's sample values.
    pickup = client.get(
        "/simulator/flow-form", params={"phone": PHONE, "flow": "order_pickup"}
    ).text
    assert ">name=Sam\norder=A1042</textarea>" in pickup
    assert "Tells a customer their order is ready for pickup." in pickup
    assert "<script>" not in html and "style=" not in html  # CSP: nothing inline


@pytest.mark.usefixtures("daytime")
def test_a_flow_appears_on_the_phone_and_the_answer_goes_the_normal_way(
    client: TestClient, starter: StubStarter
) -> None:
    html = try_flow(client, "appointment_reminder", "name=Sam\ndate=Tue 12 May\ntime=10am")
    assert 'id="sim-flow-done"' in html, html
    [run] = _runs(client)
    assert run.phone_e164 == PHONE and run.source == "console"

    def shown() -> bool:
        thread = client.get("/simulator/thread", params={"phone": PHONE}).text
        return (
            "Hi Sam, see you on Tue 12 May at 10am. Reply 1 to confirm" in thread
            and ">sent<" in thread
        )

    eventually(shown)
    answered = client.post(
        "/simulator/send", data={"phone": PHONE, "body": "1", "sid": ""}, headers=HTMX
    )
    assert answered.status_code == 200
    [answer] = [m for m in texts(client) if m.direction == "inbound"]
    assert answer.body == "1" and answer.conversation_id == run.conversation_id
    assert answer.provider == "simulator"


def test_refusals_and_mistakes_show_in_the_form(client: TestClient, starter: StubStarter) -> None:
    html = try_flow(client, "lead_qualification", "name=Sam")
    assert "Not sent: no consent to marketing texts from this number." in html
    html = try_flow(client, "appointment_reminder", "name=Sam")
    assert "Missing variables: date, time." in html and "name=Sam" in html
    assert _runs(client) == [] and texts(client) == []


def test_only_htmx_from_this_site_and_only_with_the_console_provider(
    client: TestClient, starter: StubStarter, tmp_path: Path
) -> None:
    data = {"phone": PHONE, "flow": "appointment_reminder", "variables": "name=A\ndate=B\ntime=C"}
    assert client.post("/simulator/flow", data=data).status_code == 403
    cross = client.post(
        "/simulator/flow", data=data, headers={**HTMX, "Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert starter.requests == []
    twilio = Settings(
        data_dir=tmp_path / "t",
        env="test",
        bot="off",
        sms_provider="twilio",
        simulator=True,
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="t" * 32,
        twilio_from_number="+18005550199",
        flows_dir=write_flows(tmp_path / "fl2"),
    )
    with TestClient(create_app(twilio)) as real:
        assert 'id="sim-flow-form"' not in real.get("/simulator", params={"phone": PHONE}).text
        assert real.post("/simulator/flow", data=data, headers=HTMX).status_code == 404


def _runs(client: TestClient) -> list[FlowRun]:
    with Session(app_engine(client)) as session:
        return list(session.exec(select(FlowRun)).all())
