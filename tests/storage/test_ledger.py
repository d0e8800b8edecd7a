"""The consent ledger on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel, select

from app.compliance.ledger import ConsentLedger, fold
from app.compliance.model import ConsentState, GateRequest
from app.compliance.service import Compliance
from app.config import Settings
from app.storage.tables import ComplianceDecision, ConsentEvent

PHONE = "+12125550123"
T0 = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []


@pytest.mark.parametrize("table", ["consent_events", "compliance_decisions"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET brand = 'x'", "DELETE FROM {t}"])
def test_audit_tables_reject_update_and_delete(
    engine: Engine, settings: Settings, table: str, statement: str
) -> None:
    compliance = Compliance(engine, settings)
    compliance.process_inbound(phone=PHONE, body="STOP", received_at=T0, provider_message_id="m1")
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement.format(t=table)))
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(ConsentEvent)).one() == 1


@pytest.mark.postgres
def test_postgres_rejects_truncate(pg_engine: Engine, settings: Settings) -> None:
    Compliance(pg_engine, settings).process_inbound(phone=PHONE, body="STOP", received_at=T0)
    with pytest.raises(DBAPIError, match="append-only"), pg_engine.begin() as connection:
        connection.execute(text("TRUNCATE consent_events"))


def test_stop_then_start_round_trip(engine: Engine, settings: Settings) -> None:
    compliance = Compliance(engine, settings)
    stop = compliance.process_inbound(phone=PHONE, body="Stop.", received_at=T0)
    assert (stop.action, stop.state_changed) == ("opt_out", True)
    assert compliance.consent(PHONE).state == ConsentState("opted_out", "all")
    again = compliance.process_inbound(phone=PHONE, body="STOP", received_at=T0 + timedelta(1))
    assert (again.action, again.state_changed) == ("opt_out", False)
    start = compliance.process_inbound(phone=PHONE, body="START", received_at=T0 + timedelta(2))
    assert (start.action, start.state_changed, start.new_state) == ("opt_in", True, "subscribed")
    assert compliance.consent(PHONE).state.status == "subscribed"


def test_state_is_per_brand(engine: Engine, settings: Settings) -> None:
    compliance = Compliance(engine, settings)
    compliance.process_inbound(phone=PHONE, body="STOP", received_at=T0, brand="acme")
    assert compliance.consent(PHONE, brand="acme").state.status == "opted_out"
    assert compliance.consent(PHONE, brand="globex").state.status == "subscribed"


def test_every_decision_is_stored_with_its_ruleset(engine: Engine, settings: Settings) -> None:
    compliance = Compliance(engine, settings)
    decision = compliance.process_inbound(
        phone=PHONE, body="where is my order", received_at=T0, provider_message_id="SM1"
    )
    with Session(engine) as session:
        stored = session.exec(select(ComplianceDecision)).one()
    assert stored.ruleset_version == decision.ruleset_version
    assert stored.decision["action"] == "pass"
    assert stored.occurred_at == T0


def test_retried_webhook_is_decided_once(engine: Engine, settings: Settings) -> None:
    compliance = Compliance(engine, settings)
    first = compliance.process_inbound(
        phone=PHONE, body="STOP", received_at=T0, provider_message_id="SM-retry"
    )
    second = compliance.process_inbound(
        phone=PHONE, body="STOP", received_at=T0, provider_message_id="SM-retry"
    )
    assert first == second and second.state_changed
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(ConsentEvent)).one() == 1
        assert session.exec(select(func.count()).select_from(ComplianceDecision)).one() == 1


def test_concurrent_retries_store_one_decision(engine: Engine, settings: Settings) -> None:
    compliance = Compliance(engine, settings)
    results: list[str] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            decision = compliance.process_inbound(
                phone=PHONE, body="STOP", received_at=T0, provider_message_id="SM-race"
            )
            results.append(decision.action)
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors and results == ["opt_out"] * 5
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(ConsentEvent)).one() == 1


def test_unstorable_characters_are_kept_safely(engine: Engine, settings: Settings) -> None:
    compliance = Compliance(engine, settings)
    body = "STOP\x00 \ud800 é 🛑"
    decision = compliance.process_inbound(phone=PHONE, body=body, received_at=T0)
    assert decision.action == "opt_out"
    with Session(engine) as session:
        event = session.exec(select(ConsentEvent)).one()
    assert event.body == "STOP\ufffd \ufffd é 🛑"


def test_marketing_only_revocation_keeps_transactional(engine: Engine, settings: Settings) -> None:
    compliance = Compliance(engine, settings)
    decision = compliance.process_inbound(
        phone=PHONE, body="stop sending me promos", received_at=T0
    )
    assert decision.scope == "marketing"
    state = compliance.consent(PHONE).state
    assert state.blocks("marketing") and not state.blocks("transactional")


def test_fold_restores_only_prior_consent() -> None:
    def event(kind: str, scope: str | None = None) -> ConsentEvent:
        return ConsentEvent(
            ruleset_version="t", brand="b", phone_e164=PHONE, event_type=kind, scope=scope,
            processed_at=T0, effective_at=T0,
        )  # fmt: skip

    assert fold([]).marketing_consent is False
    captured = fold([event("consent_captured", "all"), event("opt_out", "all"), event("opt_in")])
    assert captured.state.status == "subscribed" and captured.marketing_consent
    never = fold([event("opt_out", "all"), event("opt_in")])
    assert never.state.status == "subscribed" and not never.marketing_consent
    widened = fold([event("opt_out", "all"), event("revocation_phrase", "marketing")])
    assert widened.state == ConsentState("opted_out", "all")


def test_timestamps_come_back_aware_utc(engine: Engine) -> None:
    ledger = ConsentLedger(engine)
    local = datetime(2026, 3, 8, 3, 30, tzinfo=UTC).astimezone()
    with ledger.session() as session:
        ledger.append(
            session, ruleset_version="t", brand="b", phone_e164=PHONE,
            event_type="consent_captured", scope="all", effective_at=local,
        )  # fmt: skip
        session.commit()
    with ledger.session() as session:
        (event,) = ledger.events(session, brand="b", phone=PHONE)
    assert event.effective_at == local and event.effective_at.tzinfo == UTC


def test_marketing_needs_consent_on_record_at_any_hour(engine: Engine, settings: Settings) -> None:
    compliance = Compliance(engine, settings)
    night = GateRequest(PHONE, datetime(2026, 6, 11, 3, 0, tzinfo=UTC), "marketing")
    day = GateRequest(PHONE, datetime(2026, 6, 10, 16, 0, tzinfo=UTC), "marketing")
    for request in (night, day):
        decision = compliance.check_outbound(request)
        assert (decision.allowed, decision.rule, decision.next_allowed_utc) == (
            False,
            "no_marketing_consent",
            None,
        )
    compliance.record("consent_captured", phone=PHONE, at=T0 - timedelta(days=1), scope="all")
    assert compliance.check_outbound(day).allowed
    assert compliance.check_outbound(night).rule == "outside_window"


def test_the_one_reply_after_opt_out_answers_only_a_later_text(
    engine: Engine, settings: Settings
) -> None:
    compliance = Compliance(engine, settings)
    t = datetime.now(UTC) - timedelta(minutes=10)
    compliance.process_inbound(phone=PHONE, body="where is my order?", received_at=t)
    compliance.process_inbound(phone=PHONE, body="STOP", received_at=t + timedelta(minutes=1))

    def reply() -> GateRequest:
        return GateRequest(PHONE, datetime.now(UTC), "reply")

    # A reply to the question asked before the STOP must not go (IN-2, IN-7).
    assert compliance.check_outbound(reply()).rule == "opted_out"
    compliance.process_inbound(phone=PHONE, body="and my refund?", received_at=datetime.now(UTC))
    assert compliance.check_outbound(reply()).allowed  # one answer to the new question
    compliance.record("message_sent", phone=PHONE, at=datetime.now(UTC), category="reply")
    assert compliance.check_outbound(reply()).rule == "opted_out"  # and only one
