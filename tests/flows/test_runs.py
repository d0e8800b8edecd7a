"""Starting a flow and answering it with option keys, through the real pipeline."""

from __future__ import annotations

from datetime import timedelta

from app import clock
from tests.flows.conftest import Customer

APPOINTMENT = {"name": "Ana", "date": "Tue 10 Mar", "time": "3pm"}


def test_first_text_names_the_brand_and_how_to_opt_out(customer: Customer) -> None:
    started = customer.start("appointment_reminder", **APPOINTMENT)
    assert started.ok and started.run_id and started.message_id
    (first,) = customer.outbox()
    assert first.startswith("Acme: Hi Ana")
    assert "Reply 1 to confirm" in first and first.endswith("Reply STOP to opt out.")
    run = customer.run()
    assert (run.status, run.node, run.source) == ("active", "confirm", "api")


def test_the_same_key_starts_one_run(customer: Customer) -> None:
    first = customer.start("appointment_reminder", **APPOINTMENT)
    again = customer.start("appointment_reminder", **APPOINTMENT)
    assert again.duplicate and again.run_id == first.run_id
    assert again.message_id == first.message_id
    assert len(customer.outbox()) == 1


def test_refusals_never_send(customer: Customer) -> None:
    assert customer.start("nope").refusal.code == "unknown_flow"  # type: ignore[union-attr]
    missing = customer.start("appointment_reminder", key="k2", name="Ana")
    assert missing.refusal is not None and missing.refusal.code == "missing_variable"
    assert "date" in missing.refusal.detail
    customer.text("STOP")
    opted = customer.start("appointment_reminder", key="k3", **APPOINTMENT)
    assert opted.refusal is not None and opted.refusal.code == "opted_out"
    customer.phone = "+12125550999"
    marketing = customer.start("lead_qualification", key="k4", name="Bo")
    assert marketing.refusal is not None and marketing.refusal.code == "no_marketing_consent"
    assert customer.outbox() == []


def test_keys_answer_in_the_ways_people_type_them(customer: Customer) -> None:
    for typed in ("1", " 1 ", "1.", "#1", "one"):
        customer.start("appointment_reminder", key=f"k-{typed}", **APPOINTMENT)
        (reply,) = customer.text(typed)
        assert "you are confirmed for Tue 10 Mar at 3pm" in reply, typed
        run = customer.run()
        assert (run.status, run.outcome, run.node) == ("completed", "confirmed", None)
        assert run.answers[0]["option"] == "1" and run.first_reply_at is not None


def test_an_unrecognised_reply_gets_the_fallback_then_a_person(customer: Customer) -> None:
    customer.start("order_pickup", name="Ana", order="A-17")
    (fallback,) = customer.text("7")
    assert fallback.startswith("Sorry, we did not get that")
    assert customer.run().unrecognised == 1
    replies = customer.text("hmm")
    run = customer.run()
    assert (run.status, run.unrecognised) == ("handed_off", 2)
    item = customer.queue()
    assert item is not None and item.reasons == ["flow_needs_person"]
    assert any("team" in r or "person" in r or "reply" in r for r in replies)


def test_a_question_mid_flow_goes_to_the_bot_and_the_run_waits(customer: Customer) -> None:
    customer.start("order_pickup", name="Ana", order="A-17")
    (answer,) = customer.text("what time do you close today?")
    assert answer == "echo: what time do you close today?"
    assert customer.run().node == "ready"
    (reply,) = customer.text("2")
    assert "Whoever picks up order A-17" in reply
    assert customer.run().outcome == "someone_else"


def test_stop_mid_flow_ends_the_run_as_opted_out(customer: Customer) -> None:
    customer.start("payment_reminder", name="Ana", amount="$20", date="Mar 12", link="x.io/p")
    (confirmation,) = customer.text("STOP")
    assert "unsubscribed" in confirmation
    run = customer.run()
    assert (run.status, run.node) == ("opted_out", None)
    assert customer.text("1") == []  # no flow, no bot: an opted-out number gets nothing


def test_help_mid_flow_is_answered_and_the_question_still_waits(customer: Customer) -> None:
    customer.start("payment_reminder", name="Ana", amount="$20", date="Mar 12", link="x.io/p")
    (help_text,) = customer.text("HELP")
    assert "STOP" in help_text
    assert customer.run().node == "payment"
    (link,) = customer.text("1")
    assert "x.io/p" in link and customer.run().outcome == "link_sent"


def test_an_expired_question_is_not_answered(customer: Customer, frozen: clock.FrozenClock) -> None:
    customer.start("payment_reminder", name="Ana", amount="$20", date="Mar 12", link="x.io/p")
    frozen.advance(timedelta(hours=49))
    (reply,) = customer.text("1")
    assert reply == "echo: 1"  # the normal pipeline took it
    run = customer.run()
    assert (run.status, run.node) == ("expired", None)


def test_a_step_then_a_handoff_to_a_team(customer: Customer) -> None:
    customer.phone = "+12125550777"
    customer.text("START")  # no marketing consent yet: give it the way a signup would
    from app.compliance.ledger import ConsentLedger
    from app.storage.messages import now

    ledger = ConsentLedger(customer.runtime.engine)
    with ledger.session() as session:
        ledger.append(
            session, brand="default", phone_e164=customer.phone, event_type="consent_captured",
            scope="all", ruleset_version="test", channel="web", source="test",
            processed_at=now(),
        )  # fmt: skip
        session.commit()
    assert customer.start("lead_qualification", key="lead", name="Bo").ok
    (question,) = customer.text("3")
    assert "When are you planning" in question
    customer.text("1")
    run = customer.run()
    assert (run.status, run.outcome) == ("handed_off", "qualified_hot")
    item = customer.queue()
    assert item is not None and item.team == "sales"
