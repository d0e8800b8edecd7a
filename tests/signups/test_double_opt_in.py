"""Double opt-in end to end: a signup through the API, the "Reply YES" text, the customer's YES
through a signed Twilio webhook, the consent ledger, and the one opt-in confirmation."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from app import clock
from app.compliance import count_segments
from tests.helpers import eventually
from tests.signups.conftest import (
    PHONE,
    delivered,
    inbound_processed,
    kinds,
    ledger,
    outbound_purposes,
    signup_payload,
    text_in,
)

REQUEST = (
    "Acme: Reply YES to confirm customer care texts and marketing texts. Msg frequency varies. "
    "Msg&data rates may apply. Reply HELP for help, STOP to cancel."
)
CONFIRMED_PREFIX = "Acme: You're subscribed to"


def consent(client: TestClient) -> dict[str, object]:
    response = client.get(f"/api/v1/contacts/{PHONE}/consent")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def status_of(client: TestClient, signup_id: str) -> str:
    response = client.get(f"/api/v1/signups/{signup_id}")
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


def test_consent_is_recorded_only_when_the_customer_replies_yes(
    client: TestClient, frozen: clock.FrozenClock
) -> None:
    response = client.post("/api/v1/signups", json=signup_payload())
    assert response.status_code == 201, response.text
    signup = response.json()
    assert (signup["status"], signup["mode"], signup["request_sent"]) == ("pending", "double", True)
    assert signup["expires_at"] == "2026-06-17T18:00:00Z"  # 7 days by default

    eventually(lambda: delivered(client) == [REQUEST])
    assert "consent_captured" not in kinds(client)  # nothing is consent before the YES
    assert consent(client)["marketing_consent"] is False

    frozen.advance(timedelta(hours=2))
    sid = text_in(client, "Yes!")
    eventually(lambda: len(delivered(client)) == 2)
    confirmation = delivered(client)[1]
    assert confirmation.startswith(CONFIRMED_PREFIX)
    for element in ("marketing texts", "Msg frequency varies", "Msg&data rates may apply",
                    "HELP", "STOP"):  # fmt: skip
        assert element in confirmation  # SPEC §8.3
    assert count_segments(confirmation).encoding == "GSM-7"

    assert status_of(client, signup["id"]) == "confirmed"
    captured = [e for e in ledger(client) if e.event_type == "consent_captured"]
    assert len(captured) == 1
    event = captured[0]
    assert (event.scope, event.channel, event.keyword) == ("all", "web", "YES")
    assert event.source == "https://acme.com/join checkbox:sms-consent"
    assert event.provider_message_id == f"twilio:{sid}"
    evidence = event.evidence
    assert evidence["disclosure_text"] == signup_payload()["disclosure"]["text"]
    assert evidence["disclosure_version"] == "2026-11-v3"
    assert evidence["not_a_condition_of_purchase"] == "Consent is not a condition of purchase."
    assert (evidence["ip"], evidence["checkbox_id"]) == ("203.0.113.7", "sms-consent")
    assert evidence["user_agent"].startswith("Mozilla/5.0")
    assert evidence["requested_at"] == "2026-06-10T18:00:00+00:00"
    assert evidence["confirmed_at"] == "2026-06-10T20:00:00+00:00"
    assert evidence["submitted_at"] == "2026-06-10T17:59:30+00:00"

    shown = consent(client)
    assert shown["marketing_consent"] is True
    api_event = next(e for e in shown["events"] if e["event_type"] == "consent_captured")  # type: ignore[attr-defined]
    assert api_event["evidence"]["disclosure_version"] == "2026-11-v3"
    assert api_event["provider_message_id"] == f"twilio:{sid}"
    # The YES got the confirmation and nothing else: no bot answer, no START confirmation.
    assert outbound_purposes(client) == ["signup_request", "opt_in_confirmation"]


def test_a_second_yes_does_not_confirm_again(client: TestClient) -> None:
    signup = client.post("/api/v1/signups", json=signup_payload()).json()
    text_in(client, "YES")
    eventually(lambda: status_of(client, signup["id"]) == "confirmed")
    text_in(client, "yes please")
    eventually(lambda: inbound_processed(client) == 2)
    assert outbound_purposes(client).count("opt_in_confirmation") == 1
    assert kinds(client).count("consent_captured") == 1


def test_posting_the_same_signup_twice_sends_one_request(client: TestClient) -> None:
    first = client.post("/api/v1/signups", json=signup_payload())
    again = client.post("/api/v1/signups", json=signup_payload(ip="198.51.100.2"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["duplicate"] is True
    keyed = signup_payload(idempotency_key="form-42", disclosure={
        **signup_payload()["disclosure"], "version": "2026-12-v4"})  # fmt: skip
    assert client.post("/api/v1/signups", json=keyed).status_code == 201
    assert client.post("/api/v1/signups", json=keyed).json()["duplicate"] is True
    eventually(lambda: len(delivered(client)) == 2)
    # The newer signup superseded the first: one signup waits per number.
    assert status_of(client, first.json()["id"]) == "cancelled"
    assert outbound_purposes(client) == ["signup_request", "signup_request"]


def test_a_stop_while_pending_cancels_the_signup_and_is_an_ordinary_opt_out(
    client: TestClient, frozen: clock.FrozenClock
) -> None:
    signup = client.post("/api/v1/signups", json=signup_payload()).json()
    frozen.advance(timedelta(minutes=10))
    text_in(client, "STOP")
    eventually(lambda: status_of(client, signup["id"]) == "cancelled")
    eventually(lambda: outbound_purposes(client)[-1:] == ["opt_out_confirmation"])
    frozen.advance(timedelta(minutes=10))
    text_in(client, "YES")  # after the STOP: an ordinary opt-in keyword, no new consent (REC-3)
    eventually(lambda: inbound_processed(client) == 2)
    assert kinds(client) == ["opt_out", "opt_in"]
    assert consent(client)["marketing_consent"] is False
    assert outbound_purposes(client)[-1] == "opt_in_confirmation"
    assert status_of(client, signup["id"]) == "cancelled"


def test_a_yes_with_no_signup_behaves_as_before(client: TestClient) -> None:
    text_in(client, "YES")
    eventually(lambda: inbound_processed(client) == 1)
    assert kinds(client) == []  # YES while subscribed is no keyword (§4): the text is passed on
    assert "opt_in_confirmation" not in outbound_purposes(client)
