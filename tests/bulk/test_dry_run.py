"""The dry run asks the compliance gate itself who would be skipped, and why, sending nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, func, select

from app import clock
from app.campaigns.recipients import read_csv
from app.campaigns.service import dry_run
from app.compliance.model import GateRequest
from app.compliance.service import Compliance
from app.config import Settings
from app.storage.tables import ComplianceDecision, Message
from tests.bulk.conftest import LEADS, csv_of

NOON_ET = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)  # Wednesday 12:00 in New York and Miami
TEN_PM_ET = datetime(2026, 6, 11, 2, 0, tzinfo=UTC)
NEW_YORK, MIAMI, OPTED_OUT, NO_CONSENT = (
    "+12125550101",
    "+13055550102",
    "+12125550103",
    "+12125550104",
)
LONDON = "+447911123456"


def consented(compliance: Compliance, *phones: str) -> None:
    for phone in phones:
        compliance.record(
            "consent_captured", phone=phone, at=NOON_ET - timedelta(days=30), scope="all"
        )


def marketing_sent(compliance: Compliance, phone: str, *ago: timedelta) -> None:
    for delta in ago:
        compliance.record(
            "message_sent", phone=phone, at=NOON_ET - delta, category="marketing", channel="sms"
        )


def recorded(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        decisions = session.exec(select(func.count()).select_from(ComplianceDecision)).one()
        messages = session.exec(select(func.count()).select_from(Message)).one()
    return decisions, messages


def test_who_would_be_skipped_and_why(engine: Engine, settings: Settings) -> None:
    compliance = Compliance(engine, settings)
    consented(compliance, NEW_YORK, MIAMI, OPTED_OUT, LONDON)
    compliance.process_inbound(phone=OPTED_OUT, body="STOP", received_at=NOON_ET)
    marketing_sent(compliance, MIAMI, timedelta(hours=1), timedelta(hours=2), timedelta(hours=3))
    phones = [NEW_YORK, MIAMI, OPTED_OUT, NO_CONSENT, LONDON, NEW_YORK, "+1212"]
    recipients = read_csv(csv_of([(p, "Ana") for p in phones], header="phone,name"), LEADS)
    before = recorded(engine)
    with clock.frozen(NOON_ET):
        report = dry_run(compliance, flow=LEADS, recipients=recipients, brand="default")
    outcomes = [(e.line, e.outcome, e.reason) for e in report.entries]
    assert outcomes == [
        (2, "send", None),
        (3, "later", "frequency_cap"),  # QH-3: Florida allows 3 marketing texts in 24 h
        (4, "skip", "opted_out"),
        (5, "skip", "no_marketing_consent"),
        (6, "skip", "non_us_number"),  # QH-4
        (7, "skip", "duplicate"),
        (8, "skip", "bad_phone"),
    ]
    assert report.entries[1].send_at == "2026-06-11T13:00:00Z"  # the oldest send rolls off
    assert report.counts() == {
        "later": 1,
        "send": 1,
        "skip:bad_phone": 1,
        "skip:duplicate": 1,
        "skip:no_marketing_consent": 1,
        "skip:non_us_number": 1,
        "skip:opted_out": 1,
    }
    assert recorded(engine) == before  # nothing sent, no gate decision recorded


def test_quiet_hours_say_when_the_text_would_go(engine: Engine, settings: Settings) -> None:
    compliance = Compliance(engine, settings)
    consented(compliance, NEW_YORK)
    recipients = read_csv(csv_of([(NEW_YORK, "Ana")], header="phone,name"), LEADS)
    with clock.frozen(TEN_PM_ET):
        (entry,) = dry_run(compliance, flow=LEADS, recipients=recipients, brand="default").entries
    assert (entry.outcome, entry.reason) == ("later", "quiet_hours")
    assert entry.send_at == "2026-06-11T12:00:00Z"  # 08:00 in New York


def test_the_brands_own_frequency_cap_is_enforced_by_the_gate(
    engine: Engine, settings: Settings
) -> None:
    capped = settings.model_copy(update={"marketing_cap_per_number": 2, "marketing_cap_hours": 168})
    compliance = Compliance(engine, capped)
    consented(compliance, NEW_YORK)
    marketing_sent(compliance, NEW_YORK, timedelta(days=3), timedelta(days=5))
    recipients = read_csv(csv_of([(NEW_YORK, "Ana")], header="phone,name"), LEADS)
    with clock.frozen(NOON_ET):
        (entry,) = dry_run(compliance, flow=LEADS, recipients=recipients, brand="default").entries
        assert (entry.outcome, entry.reason) == ("later", "frequency_cap")
        assert "brand cap: 2 marketing texts in 168 h" in entry.detail
        # The send-time gate says the same (it is the same gate), and when it rolls off.
        decision = compliance.check_outbound(
            GateRequest(NEW_YORK, NOON_ET, "marketing"), record=False
        )
    assert not decision.allowed and decision.next_allowed_utc == "2026-06-12T16:00:00Z"
    # Without the setting only the state caps apply: New York has none.
    uncapped = Compliance(engine, settings)
    with clock.frozen(NOON_ET):
        (entry,) = dry_run(uncapped, flow=LEADS, recipients=recipients, brand="default").entries
    assert entry.outcome == "send"
