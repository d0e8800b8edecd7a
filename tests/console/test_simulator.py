"""The phone simulator through the real app: texts in through accept_inbound, answers polled."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import ValidationError
from sqlmodel import Session, col, select

from app.compliance.segments import MAX_TEXT_CHARS
from app.config import Settings
from app.console.simulator import PROVIDER, is_fictional, simulator_phone
from app.errors import InvalidPhoneNumber
from app.main import create_app
from app.storage.tables import Conversation, HandoffItem, Message
from tests.console.conftest import app_engine
from tests.helpers import eventually

PHONE = "+12125550142"
HTMX = {"HX-Request": "true"}


def send(client: TestClient, body: str, *, phone: str = PHONE, **headers: str) -> Response:
    return client.post(
        "/simulator/send",
        data={"phone": phone, "body": body, "sid": ""},
        headers={**HTMX, **headers},
    )


def inbound(client: TestClient) -> list[Message]:
    with Session(app_engine(client)) as session:
        query = select(Message).where(Message.direction == "inbound").order_by(col(Message.id))
        return list(session.exec(query).all())


def thread(client: TestClient, phone: str = PHONE) -> str:
    response = client.get("/simulator/thread", params={"phone": phone})
    assert response.status_code == 200, response.text
    return response.text


def test_page_renders_a_phone_that_polls_its_thread(client: TestClient) -> None:
    response = client.get("/simulator", params={"phone": PHONE})
    assert response.status_code == 200
    html = response.text
    assert "Try: 'what time do you open?', 'I want to talk to a person', 'STOP'" in html
    assert 'hx-trigger="every 1s"' in html and 'id="sim-thread"' in html
    assert 'hx-post="/simulator/send"' in html
    assert f'name="phone" value="{PHONE}"' in html
    assert "+1 212-555-0142" in html  # as the phone shows it
    assert 'href="/simulator" class="current"' in html  # the nav marks the page
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "<script>" not in html and "style=" not in html  # CSP: nothing inline


def test_first_visit_gets_a_random_fictional_number_kept_in_the_url(client: TestClient) -> None:
    response = client.get("/simulator")
    assert response.status_code == 200
    phone = parse_qs(urlsplit(str(response.url)).query)["phone"][0]
    assert re.fullmatch(r"\+121255501\d\d", phone), phone
    assert f'name="phone" value="{phone}"' in response.text
    # A number written loosely lands on its one canonical URL.
    loose = client.get("/simulator", params={"phone": "+1 (212) 555-0142"})
    assert parse_qs(urlsplit(str(loose.url)).query)["phone"] == [PHONE]


def test_a_text_is_stored_processed_and_answered_in_the_thread(client: TestClient) -> None:
    response = send(client, "STOP")
    assert response.status_code == 200, response.text
    assert 'id="sim-form"' in response.text and "STOP" in response.text
    [message] = inbound(client)
    assert message.provider == PROVIDER and message.body == "STOP"
    assert message.provider_message_id and message.provider_message_id.startswith("SIM")

    def confirmed() -> bool:
        return re.search(r'class="status (sent|delivered)"', thread(client)) is not None

    eventually(confirmed)  # the compliance layer's confirmation, sent by the console provider
    html = thread(client)
    assert html.index("STOP") < html.index('class="bubble outbound"')
    assert "You are unsubscribed" in html


def test_a_question_goes_to_a_person_and_the_phone_says_so(client: TestClient) -> None:
    send(client, "I want to talk to a person")

    def queued() -> bool:
        with Session(app_engine(client)) as session:
            return session.exec(select(HandoffItem)).first() is not None

    eventually(queued)  # bot="off": every passed text is handed to the queue
    assert 'id="sim-handoff"' in thread(client)


def test_the_same_form_submitted_twice_stores_one_text(client: TestClient) -> None:
    form = {"phone": PHONE, "body": "hello", "sid": "ab" * 16}
    for _ in range(2):
        assert client.post("/simulator/send", data=form, headers=HTMX).status_code == 200
    assert [m.provider_message_id for m in inbound(client)] == ["SIM" + "ab" * 16]
    send(client, "hello")  # a form rendered afresh has its own id
    assert len(inbound(client)) == 2


def test_customer_text_is_escaped_everywhere(client: TestClient) -> None:
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    response = send(client, attack)
    for html in (response.text, thread(client), client.get(f"/simulator?phone={PHONE}").text):
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_a_bad_number_gets_a_clear_error(client: TestClient) -> None:
    response = client.get("/simulator", params={"phone": "12345<b>"})
    assert response.status_code == 400
    assert 'id="sim-phone-error"' in response.text
    assert "international form" in response.text and "+12125550123" in response.text
    assert "12345&lt;b&gt;" in response.text and "<b>" not in response.text
    assert 'id="sim-form"' not in response.text

    posted = send(client, "hello", phone="not a number")
    assert posted.status_code == 200 and "international form" in posted.text
    assert client.get("/simulator/thread", params={"phone": "nope"}).status_code == 400
    assert inbound(client) == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [("", "Type a message first"), ("   ", "Type a message first"), ("x" * 1601, "at most 1600")],
)
def test_empty_and_too_long_texts_are_refused(client: TestClient, body: str, problem: str) -> None:
    response = send(client, body)
    assert response.status_code == 200
    assert 'id="sim-send-error"' in response.text and problem in response.text
    assert inbound(client) == []


def test_a_text_of_the_maximum_length_is_taken(client: TestClient) -> None:
    assert send(client, "y" * MAX_TEXT_CHARS).status_code == 200
    assert len(inbound(client)) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"HX-Request": "false"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_cross_site_posts_are_refused(client: TestClient, headers: dict[str, str]) -> None:
    response = send(client, "STOP", **headers)
    assert response.status_code == 403
    assert inbound(client) == []


def test_a_plain_form_post_without_htmx_is_refused(client: TestClient) -> None:
    response = client.post("/simulator/send", data={"phone": PHONE, "body": "STOP"})
    assert response.status_code == 403
    assert inbound(client) == []
    same_origin = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    assert send(client, "hi", **same_origin).status_code == 200
    assert len(inbound(client)) == 1


def test_polling_answers_204_while_the_thread_is_unchanged(client: TestClient) -> None:
    page = client.get("/simulator", params={"phone": PHONE}).text
    url = re.search(r'hx-get="(/simulator/thread\?[^"]+)"', page)
    assert url is not None
    poll = url.group(1).replace("&amp;", "&")
    assert client.get(poll).status_code == 204
    send(client, "hello there")
    changed = client.get(poll)
    assert changed.status_code == 200 and "hello there" in changed.text


def test_disabled_simulator_is_not_found(settings: Settings) -> None:
    off = settings.model_copy(update={"simulator": False})
    with TestClient(create_app(off)) as client:
        assert client.get("/simulator", params={"phone": PHONE}).status_code == 404
        assert client.get("/simulator/thread", params={"phone": PHONE}).status_code == 404
        assert send(client, "STOP").status_code == 404
        with Session(app_engine(client)) as session:
            assert session.exec(select(Conversation)).first() is None


def test_with_a_real_provider_only_fictional_numbers_are_taken(settings: Settings) -> None:
    twilio = settings.model_copy(update={"sms_provider": "twilio"})
    assert simulator_phone(twilio, "+12125550142") == "+12125550142"
    with pytest.raises(InvalidPhoneNumber, match="fictional"):
        simulator_phone(twilio, "+12125551234")
    assert simulator_phone(settings, "+12125551234") == "+12125551234"  # console: any number
    assert simulator_phone(settings, " 12125550142") == "+12125550142"  # `?phone=+1...` by hand
    assert is_fictional("+14155550199") and not is_fictional("+14155550200")
    assert not is_fictional("+441632960000")


def test_texts_past_the_rate_limit_are_refused_with_the_wait(settings: Settings) -> None:
    limited = settings.model_copy(update={"simulator_rate_limit": "2/hour"})
    with TestClient(create_app(limited)) as client:
        for body in ("one", "two"):
            assert 'id="sim-send-error"' not in send(client, body).text
        refused = send(client, "three")
        assert refused.status_code == 200  # htmx swaps it into the phone's form
        assert re.search(r"Too many texts from here for now: try again in \d+ min", refused.text)
        assert "three" in refused.text  # kept in the form, to send later
        # The limit is per client address as well as per number: a new number does not help.
        assert 'id="sim-send-error"' in send(client, "four", phone="+12125550143").text
        assert sorted(m.body for m in inbound(client)) == ["one", "two"]


def test_a_number_has_its_own_limit_whatever_the_address(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"simulator_rate_limit": "1/minute"}))
    with TestClient(app) as here:
        elsewhere = TestClient(app, client=("203.0.113.9", 50000))
        assert 'id="sim-send-error"' not in send(here, "hi").text
        assert "try again in" in send(elsewhere, "hi").text  # same number, another address
        assert 'id="sim-send-error"' not in send(elsewhere, "hi", phone="+12125550143").text
        assert [m.body for m in inbound(here)] == ["hi", "hi"]


@pytest.mark.parametrize("spec", ["", "ten per fortnight", "10/minute;"])
def test_a_malformed_rate_limit_is_refused_at_start_up(tmp_path: Path, spec: str) -> None:
    with pytest.raises(ValidationError, match="simulator_rate_limit"):
        Settings(data_dir=tmp_path, env="test", simulator_rate_limit=spec)
