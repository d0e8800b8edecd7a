"""The console's Flows page, the start form, the flow panel of a conversation, the dashboard."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.channels.base import InboundSms
from app.config import Settings
from app.pipeline.ingress import accept_inbound
from app.storage.messages import now
from app.storage.tables import AuditEntry, Conversation, FlowRun, Message
from tests.console.conftest import MakeAgent, app_engine, login
from tests.console.flow_stub import StubStarter, wire_starter, write_flows
from tests.flows.run_factory import RunFactory
from tests.helpers import eventually

BRAND = "default"  # the test settings' brand_id
PHONE = "+12125550177"
MIN = timedelta(minutes=1)


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


def supervisor(
    client: TestClient, make_agent: MakeAgent, brands: tuple[str, ...] = (BRAND,)
) -> str:
    make_agent("sup@example.com", role="supervisor", brands=brands)
    return login(client, "sup@example.com")


def start(client: TestClient, csrf: str, **fields: str) -> str:
    data = {
        "flow": "appointment_reminder",
        "phone": PHONE,
        "variables": "name=Sam\ndate=Tue 12 May\ntime=10am",
    }
    data |= {"form_key": uuid.uuid4().hex} | fields
    response = client.post(
        "/console/flows/start", data=data, headers={"X-CSRF-Token": csrf, "HX-Request": "true"}
    )
    assert response.status_code == 200, response.text
    return response.text


def runs(client: TestClient) -> list[FlowRun]:
    with Session(app_engine(client)) as session:
        return list(session.exec(select(FlowRun)).all())


def outbound(client: TestClient) -> list[Message]:
    with Session(app_engine(client)) as session:
        query = select(Message).where(Message.direction == "outbound").order_by(col(Message.id))
        return list(session.exec(query).all())


def seed_runs(client: TestClient) -> tuple[FlowRun, FlowRun]:
    """Two runs of this brand (one answered, handed to a person) and one of another brand."""
    with Session(app_engine(client), expire_on_commit=False) as session:
        factory = RunFactory(session, now())
        answered = factory.run(
            "appointment_reminder",
            "+12125550101",
            status="handed_off",
            replied_after=4 * MIN,
            finished_after=5 * MIN,
            brand=BRAND,
            variables={"name": "Ana", "date": "Fri 13 Mar"},
            answers=[
                {
                    "node": "confirm",
                    "option": "2",
                    "text": "can we do thursday instead?",
                    "at": "2026-03-10T11:04:00+00:00",
                },
            ],
        )
        waiting = factory.run("lead_qualification", "+12125550102", node="need", brand=BRAND)
        factory.run("appointment_reminder", "+12125550103", status="completed", brand="globex")
        session.commit()
        return answered, waiting


def test_the_catalogue_figures_and_latest_runs(client: TestClient, make_agent: MakeAgent) -> None:
    answered, waiting = seed_runs(client)
    make_agent("agent@example.com", brands=(BRAND,))
    login(client, "agent@example.com")
    response = client.get("/console/flows")
    assert response.status_code == 200, response.text
    html = response.text
    assert 'href="/console/flows" class="current"' in html
    catalogue = html[html.index('id="flow-catalogue"') : html.index("</table>")]
    assert "appointment_reminder" in catalogue and "lead_qualification" in catalogue
    assert "transactional" in catalogue and "marketing" in catalogue
    assert "Two questions, then the lead goes to sales." in catalogue
    assert "<code>name</code>, <code>date</code>, <code>time</code>" in catalogue
    figures = html[html.index('id="flow-figures"') :]
    row = figures[figures.index('data-flow="appointment_reminder"') :]
    row = row[: row.index("</tr>")]
    # One run of this brand (the other brand's is not counted), answered, handed off.
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["1", "1", "0", "0"]
    assert "100%" in row and "4 min" in row
    # Latest runs link to their conversations; the other brand's run is not listed.
    listed = html[html.index('id="flow-runs-table"') :]
    assert f'href="/console/conversations/{answered.conversation_id}"' in listed
    assert f'href="/console/conversations/{waiting.conversation_id}"' in listed
    assert "+12125550103" not in listed
    assert "handed off" in listed and ">need<" in listed
    # An agent does not start flows (supervisors and admins do).
    assert 'id="flow-start-not-allowed"' in html and 'id="flow-start-form"' not in html
    assert "<script>" not in html and "style=" not in html  # CSP: nothing inline


def test_one_flow_page_and_an_unknown_one(client: TestClient, make_agent: MakeAgent) -> None:
    seed_runs(client)
    supervisor(client, make_agent)
    html = client.get("/console/flows/appointment_reminder").text
    assert "Hi {name}, see you on {date} at {time}. Reply 1 to confirm, 2 to reschedule." in html
    assert 'value="appointment_reminder" selected' in html
    assert "name=\ndate=\ntime=" in html  # the variables to fill, one a line
    assert "+12125550102" not in html  # only this flow's runs
    assert client.get("/console/flows/no_such_flow").status_code == 404
    # The engine's format: the first text is the start question's.
    pickup = client.get("/console/flows/order_pickup").text
    assert "<code>ready</code>" in pickup and "Reply 1 when you are on the way." in pickup
    # Choosing another flow brings its variables and keeps the number typed.
    other = client.get(
        "/console/partials/flows/form", params={"flow": "lead_qualification", "phone": PHONE}
    ).text
    assert 'value="lead_qualification" selected' in other
    assert ">name=</textarea>" in other and f'value="{PHONE}"' in other


@pytest.mark.usefixtures("daytime")
def test_a_supervisor_starts_a_flow_and_its_first_text_goes_out(
    client: TestClient, make_agent: MakeAgent, starter: StubStarter
) -> None:
    csrf = supervisor(client, make_agent)
    html = start(client, csrf)
    assert 'id="flow-start-done"' in html, html
    [run] = runs(client)
    assert (run.flow, run.phone_e164, run.source) == ("appointment_reminder", PHONE, "console")
    assert run.variables == {"name": "Sam", "date": "Tue 12 May", "time": "10am"}
    assert f'href="/console/conversations/{run.conversation_id}"' in html
    [request] = starter.requests
    assert request.brand == BRAND and request.idempotency_key.startswith("console:")

    def sent() -> bool:
        return [m.status for m in outbound(client)] == ["sent"]

    eventually(sent)
    assert "Hi Sam, see you on Tue 12 May at 10am. Reply 1 to confirm" in outbound(client)[0].body
    with Session(app_engine(client)) as session:
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "flow.start")).one()
    assert audit.target == PHONE and audit.detail["run_id"] == str(run.id)
    # The same form posted twice (a double click, a retried request) starts one run.
    key = uuid.uuid4().hex
    start(client, csrf, form_key=key, phone="+12125550178")
    start(client, csrf, form_key=key, phone="+12125550178")
    assert len(runs(client)) == 2 and len(starter.requests) == 3


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"variables": "name=Sam\ndate=Tue\ntime=9\ncolour=red"},
         "Unknown variable &#39;colour&#39;: "
         "appointment_reminder takes name, date, time."),
        ({"variables": "name=Sam"}, "Missing variables: date, time."),
        ({"variables": "name Sam"}, "Variables line 1: write it as name=value."),
        ({"phone": "555-CALL-NOW"}, "is not a phone number in international form"),
        ({"flow": "no_such_flow"}, "There is no flow called &#39;no_such_flow&#39;."),
        ({"flow": "lead_qualification", "variables": "name=Sam"},
         "Not sent: no consent to marketing texts from this number."),
    ],
)  # fmt: skip
def test_bad_input_and_refusals_come_back_in_the_form(
    client: TestClient,
    make_agent: MakeAgent,
    starter: StubStarter,
    fields: dict[str, str],
    error: str,
) -> None:
    csrf = supervisor(client, make_agent)
    html = start(client, csrf, **fields)
    assert 'id="flow-start-error"' in html and error in html, html
    assert runs(client) == [] and outbound(client) == []
    if "phone" not in fields:
        assert f'value="{PHONE}"' in html  # what was typed stays in the form


def test_an_opted_out_number_is_refused_and_nothing_is_sent(
    client: TestClient, make_agent: MakeAgent, starter: StubStarter
) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    sms = InboundSms(
        provider="twilio",
        provider_message_id=f"SM{uuid.uuid4().hex}",
        from_number=PHONE,
        to_number="+18005550199",
        body="STOP",
        received_at=datetime.now(UTC),
    )
    accept_inbound(runtime.engine, sms, brand=BRAND)
    runtime.jobs.notify()
    eventually(lambda: len(outbound(client)) == 1)  # the opt-out confirmation
    csrf = supervisor(client, make_agent)
    html = start(client, csrf)
    assert "Not sent: the number opted out." in html
    assert runs(client) == [] and len(outbound(client)) == 1


def test_who_may_start_and_csrf(
    client: TestClient, make_agent: MakeAgent, starter: StubStarter
) -> None:
    make_agent("agent@example.com", brands=(BRAND,))
    csrf = login(client, "agent@example.com")
    form = {"flow": "appointment_reminder", "phone": PHONE, "variables": "name=A\ndate=B\ntime=C"}
    refused = client.post("/console/flows/start", data=form, headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 403
    client.cookies.clear()
    csrf = supervisor(client, make_agent)
    assert client.post("/console/flows/start", data=form).status_code == 403  # no CSRF token
    # A supervisor of other brands only does not start flows for this one.
    client.cookies.clear()
    make_agent("other@example.com", role="supervisor", brands=("globex",))
    csrf = login(client, "other@example.com")
    refused = client.post("/console/flows/start", data=form, headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 403
    assert starter.requests == [] and runs(client) == []


def test_the_conversation_page_shows_the_flow_and_the_answers(
    client: TestClient, make_agent: MakeAgent
) -> None:
    answered, _ = seed_runs(client)
    make_agent("agent@example.com", brands=(BRAND,))
    login(client, "agent@example.com")
    html = client.get(f"/console/conversations/{answered.conversation_id}").text
    panel = html[html.index('id="flow-run"') :]
    panel = panel[: panel.index("</ol>")]
    assert "appointment_reminder" in panel and "handed off" in panel
    assert "can we do thursday instead?" in panel and "<strong>2</strong>" in panel
    assert "Ana" in panel and "Fri 13 Mar" in panel
    # A run still waiting shows its question's text.
    with Session(app_engine(client)) as session:
        conversation = session.exec(
            select(Conversation).where(Conversation.phone_e164 == "+12125550102")
        ).one()
    html = client.get(f"/console/conversations/{conversation.id}").text
    assert 'id="flow-run-question"' in html and "What are you looking for?" in html
    assert "No answer yet." in html


def test_the_dashboard_has_a_flows_section(client: TestClient, make_agent: MakeAgent) -> None:
    seed_runs(client)
    supervisor(client, make_agent)
    html = client.get("/console/dashboard").text
    section = html[html.index('id="dash-flows"') :]
    assert (
        'data-flow="appointment_reminder"' in section
        and 'data-flow="lead_qualification"' in section
    )
    assert 'data-flow="(all)"' in section  # the overall row
    assert "+12125550103" not in section
    client.cookies.clear()
    make_agent("other@example.com", role="supervisor", brands=("globex",))
    login(client, "other@example.com")
    html = client.get("/console/dashboard").text
    section = html[html.index('id="dash-flows"') :]
    assert 'data-flow="appointment_reminder"' in section
    assert 'data-flow="lead_qualification"' not in section  # another brand's run
