"""The §7 opt_out tool: an AI-detected revocation is recorded and enforced like any other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from app.compliance.model import GateRequest
from app.compliance.second_pass import opt_out_tool
from app.compliance.service import Compliance
from app.config import Settings
from app.storage.tables import ConsentEvent

PHONE = "+12125550123"
AT = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)


def test_ai_revocation_is_enforced_at_the_gate(sqlite_engine: Engine, settings: Settings) -> None:
    compliance = Compliance(sqlite_engine, settings)
    compliance.record("consent_captured", phone=PHONE, at=AT - timedelta(days=9), scope="all")
    passed = compliance.process_inbound(phone=PHONE, body="стоп", received_at=AT)
    assert passed.action == "pass"  # non-Latin: the rules leave it to the AI (§5 NORM-3)

    tool = opt_out_tool(compliance, phone=PHONE, received_at=AT, provider_message_id="SM9")
    decision = tool("Russian for 'stop'", "стоп")

    assert (decision.action, decision.match, decision.reply) == (
        "opt_out",
        "ai",
        "opt_out_confirmation",
    )
    assert compliance.consent(PHONE).state.status == "opted_out"
    with Session(sqlite_engine) as session:
        event = session.exec(
            select(ConsentEvent).where(ConsentEvent.event_type == "ai_detected_revocation")
        ).one()
    assert event.evidence == {"reason": "Russian for 'stop'", "evidence": "стоп"}
    gate = compliance.check_outbound(GateRequest(PHONE, AT + timedelta(hours=1), "transactional"))
    assert (gate.allowed, gate.rule) == (False, "opted_out")


def test_asking_twice_for_one_text_records_one_event(
    sqlite_engine: Engine, settings: Settings
) -> None:
    compliance = Compliance(sqlite_engine, settings)
    for _ in range(2):  # a job re-run after a crash between the tool call and its commit
        tool = opt_out_tool(compliance, phone=PHONE, received_at=AT, provider_message_id="SM9")
        assert tool("Russian for 'stop'", "стоп").action == "opt_out"
    with Session(sqlite_engine) as session:
        events = session.exec(
            select(ConsentEvent).where(ConsentEvent.event_type == "ai_detected_revocation")
        ).all()
    assert len(events) == 1
