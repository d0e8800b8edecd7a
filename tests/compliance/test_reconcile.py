"""REC-4: `smsdesk compliance export-optouts` and `reconcile` against a provider's opt-out list,
through the real command line on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from structlog.testing import capture_logs
from typer.testing import CliRunner, Result

from app import clock
from app.cli import app
from app.compliance import reconcile as reconcile_module
from app.compliance.reconcile import reconcile
from app.compliance.service import Compliance
from app.config import Settings
from app.outbound.send import queue_outbound
from app.storage.messages import get_or_create_conversation
from app.storage.tables import ConsentEvent, Message

runner = CliRunner()
AT = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)
STOPPED = "+12125550123"  # texted STOP: opted out in our ledger and at the provider
ONLY_OURS = "+13055550147"  # opted out in our ledger only (informational)
ONLY_PROVIDER = "+14155550171"  # opted out at the provider only: the drift that matters
MARKETING_ONLY = "+16175550188"  # we stopped marketing only; the provider blocks everything
RESUBSCRIBED = "+17185550134"  # STOP then START: subscribed again


@pytest.fixture
def ledger(engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Compliance:
    """The CLI's settings on the test database, and a ledger with one number of each kind."""
    monkeypatch.setenv("SMSDESK_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SMSDESK_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    from app.config import get_settings

    get_settings.cache_clear()
    compliance = Compliance(engine, settings)
    with clock.frozen(AT):
        _fill(compliance)
    return compliance


def _fill(compliance: Compliance) -> None:
    for index, (phone, body) in enumerate(
        [
            (STOPPED, "STOP"),
            (ONLY_OURS, "UNSUBSCRIBE"),
            (RESUBSCRIBED, "STOP"),
            (RESUBSCRIBED, "START"),
        ]
    ):
        compliance.process_inbound(
            phone=phone, body=body, received_at=AT, provider_message_id=f"SM{index}"
        )
    compliance.record(
        "opt_out", phone=MARKETING_ONLY, at=AT, scope="marketing", channel="web", source="web:form"
    )
    compliance.record("opt_out", phone=ONLY_PROVIDER, at=AT, brand="other", source="carrier:21610")


def _provider_file(tmp_path: Path, text: str, name: str = "twilio-optouts.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _plain_list(tmp_path: Path) -> Path:
    phones = (STOPPED, ONLY_PROVIDER, MARKETING_ONLY, ONLY_PROVIDER)  # a repeat counts once
    return _provider_file(tmp_path, "phone_e164\n" + "".join(f"{p}\n" for p in phones))


def _invoke(*args: str) -> Result:
    return runner.invoke(app, ["compliance", *args])


def _events(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(ConsentEvent)).one()


def _queue_text(engine: Engine, phone: str) -> uuid.UUID:
    with Session(engine, expire_on_commit=False) as session:
        conversation = get_or_create_conversation(session, brand="default", phone=phone)
        message = queue_outbound(
            session,
            conversation=conversation,
            body="Your order is ready for pick-up.",
            category="transactional",
            purpose="api",
            idempotency_key=f"test:{phone}",
            provider="twilio",
        )
        session.commit()
        return message.id


def _status(engine: Engine, message_id: uuid.UUID) -> str:
    with Session(engine) as session:
        message = session.exec(select(Message).where(col(Message.id) == message_id)).one()
        return message.status


def test_export_lists_the_numbers_opted_out_now_per_brand(ledger: Compliance) -> None:
    result = _invoke("export-optouts")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["brand"], r["phone_e164"], r["scope"]) for r in rows] == [
        ("default", STOPPED, "all"),
        ("default", ONLY_OURS, "all"),
        ("default", MARKETING_ONLY, "marketing"),
        ("other", ONLY_PROVIDER, "all"),
    ]
    by_phone = {r["phone_e164"]: r for r in rows}
    assert by_phone[STOPPED]["since"] == "2026-06-10T15:00:00Z"
    assert by_phone[STOPPED]["source"] == "sms:inbound"
    assert by_phone[MARKETING_ONLY]["source"] == "web:form"
    assert by_phone[ONLY_PROVIDER]["source"] == "carrier:21610"
    assert RESUBSCRIBED not in by_phone


def test_export_to_a_file_for_one_brand(ledger: Compliance, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "optouts.csv"
    result = _invoke("export-optouts", "--out", str(out), "--brand", "other")
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines() == [
        "brand,phone_e164,since,source,scope",
        f"other,{ONLY_PROVIDER},2026-06-10T15:00:00Z,carrier:21610,all",
    ]


def test_reconcile_reports_drift_both_ways_and_changes_nothing(
    ledger: Compliance, engine: Engine, tmp_path: Path
) -> None:
    before = _events(engine)
    result = _invoke("reconcile", str(_plain_list(tmp_path)), "--json")
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert summary["drift"] is True
    assert summary["provider_only"] == [ONLY_PROVIDER, MARKETING_ONLY]  # other brand's is not ours
    assert summary["marketing_only"] == [MARKETING_ONLY]
    assert summary["ledger_only"] == [ONLY_OURS]
    assert (summary["provider_numbers"], summary["applied"], summary["bad_rows"]) == (3, [], [])
    assert _events(engine) == before
    assert ledger.consent(ONLY_PROVIDER).state.status == "subscribed"


def test_reconcile_prints_a_table_without_json(ledger: Compliance, tmp_path: Path) -> None:
    result = _invoke("reconcile", str(_plain_list(tmp_path)))
    assert result.exit_code == 1, result.output
    assert ONLY_PROVIDER in result.stdout and "drift" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1] == (
        "3 numbers on the provider list; 2 opted out there but not in our ledger (0 recorded now,"
        " 0 queued texts cancelled); 1 opted out only in our ledger; 0 bad rows"
    )


def test_reconcile_without_drift_exits_zero(ledger: Compliance, tmp_path: Path) -> None:
    path = _provider_file(tmp_path, f"phone_e164\n{STOPPED}\n")
    result = _invoke("reconcile", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ledger_only"] == [ONLY_OURS, MARKETING_ONLY]


def test_apply_records_the_opt_outs_cancels_queued_texts_and_is_idempotent(
    ledger: Compliance, engine: Engine, tmp_path: Path
) -> None:
    queued = _queue_text(engine, ONLY_PROVIDER)
    path = _plain_list(tmp_path)
    first = _invoke("reconcile", str(path), "--apply", "--json")
    assert first.exit_code == 1, first.output  # there was drift, even though it is fixed now
    summary = json.loads(first.stdout)
    assert summary["applied"] == [ONLY_PROVIDER, MARKETING_ONLY]
    assert summary["cancelled_texts"] == 1
    assert _status(engine, queued) == "cancelled"
    for phone in (ONLY_PROVIDER, MARKETING_ONLY):
        consent = ledger.consent(phone)
        assert (consent.state.status, consent.state.scope) == ("opted_out", "all")
    with Session(engine) as session:
        recorded = session.exec(
            select(ConsentEvent).where(ConsentEvent.source == "reconciliation:twilio-optouts.csv")
        ).all()
    assert sorted((e.phone_e164, e.event_type, e.scope, e.brand) for e in recorded) == [
        (ONLY_PROVIDER, "opt_out", "all", "default"),
        (MARKETING_ONLY, "opt_out", "all", "default"),
    ]
    assert {e.evidence["line"] for e in recorded} == {3, 4}
    events = _events(engine)

    second = _invoke("reconcile", str(path), "--apply", "--json")
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["applied"] == []
    assert _events(engine) == events


def test_twilio_headers_and_bad_rows_are_reported_by_line(
    ledger: Compliance, engine: Engine, tmp_path: Path
) -> None:
    path = _provider_file(
        tmp_path,
        "Phone Number,Date Created\n"
        f"{STOPPED},2026-06-01\n"
        "not-a-number,2026-06-02\n"
        "\n"
        "+1212555,2026-06-03\n"
        ",2026-06-04\n"
        "14155550171,2026-06-05\n"
        "6175550188,2026-06-06\n",
    )
    result = _invoke("reconcile", str(path), "--json")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert [line.split(":")[1].strip() for line in errors] == [
        "twilio-optouts.csv line 3",
        "twilio-optouts.csv line 5",
        "twilio-optouts.csv line 6",
        "twilio-optouts.csv line 8",  # national (ten digits): never read as another country's
    ]
    summary = json.loads(result.stdout)
    # The valid rows still count: the number written without `+` is drift.
    assert summary["provider_only"] == [ONLY_PROVIDER]
    assert [row["line"] for row in summary["bad_rows"]] == [3, 5, 6, 8]
    assert result.exit_code == 1

    clean = _provider_file(tmp_path, "PhoneNumber\n+12125550123\nnope\n", name="clean.csv")
    only_bad_rows = _invoke("reconcile", str(clean))
    assert only_bad_rows.exit_code == 2, only_bad_rows.output
    assert "error: clean.csv line 3: not an E.164 phone number: 'nope'" in only_bad_rows.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("email,date\na@b.c,2026-06-01\n", "has no phone column"),
    ],
)
def test_an_unusable_file_is_one_error_line(
    ledger: Compliance, tmp_path: Path, text: str, message: str
) -> None:
    result = _invoke("reconcile", str(_provider_file(tmp_path, text)))
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and message in line


def test_a_missing_file_is_one_error_line(ledger: Compliance, tmp_path: Path) -> None:
    result = _invoke("reconcile", str(tmp_path / "absent.csv"))
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: cannot read the provider list")


def test_drift_is_logged_as_a_warning_with_counts_and_no_numbers(
    ledger: Compliance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with capture_logs() as logs:
        # A logger of its own: the module's may be cached with another test's configuration.
        monkeypatch.setattr(reconcile_module, "_logger", structlog.get_logger("compliance"))
        reconcile(ledger, _plain_list(tmp_path), apply=True)
        reconcile(ledger, _plain_list(tmp_path))
    drift, reconciled = [e for e in logs if e["event"].startswith("compliance.optout")]
    assert (drift["event"], drift["log_level"]) == ("compliance.optout_drift", "warning")
    assert (drift["provider_only"], drift["ledger_only"], drift["applied"]) == (2, 1, 2)
    assert (reconciled["event"], reconciled["log_level"]) == (
        "compliance.optout_reconciled",
        "info",
    )
    logged = json.dumps(logs, default=str)
    assert "555" not in logged
