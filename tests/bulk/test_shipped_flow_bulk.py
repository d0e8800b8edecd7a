"""A bulk send of a shipped flow, end to end: the CSV, the real flows engine, the send-time gate,
the console provider, and the customers' answers through the pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from app import clock
from app.cli import app
from app.config import get_settings
from app.storage import open_database
from app.storage.tables import Campaign, CampaignRecipient, FlowRun, Message

runner = CliRunner()
NOON_ET = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)
ROWS = [("+12125550141", "Ana", "AC1001"), ("+12125550142", "Bo", "AC1002")]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SMSDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMSDESK_ENV", "test")
    monkeypatch.setenv("SMSDESK_BOT", "off")
    get_settings.cache_clear()
    with clock.frozen(NOON_ET):
        yield
    get_settings.cache_clear()


def test_order_pickup_goes_to_every_line_of_the_csv_once(tmp_path: Path) -> None:
    path = tmp_path / "pickups.csv"
    path.write_text(
        "phone,name,order\n" + "".join(f"{p},{n},{o}\n" for p, n, o in ROWS), encoding="utf-8"
    )
    command = ["flows", "send", "order_pickup", "--csv", str(path), "--campaign-name", "June"]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    again = runner.invoke(app, command)  # a second campaign: each number gets the flow again,
    assert again.exit_code == 0, again.output  # but the first campaign never re-sends
    engine = open_database(get_settings().db_url)
    with Session(engine) as session:
        first, _second = session.exec(select(Campaign).order_by(Campaign.created_at)).all()
        runs = session.exec(select(FlowRun).where(FlowRun.campaign_id == first.id)).all()
        texts = session.exec(select(Message).where(Message.campaign_id == first.id)).all()
        states = session.exec(
            select(CampaignRecipient.state).where(CampaignRecipient.campaign_id == first.id)
        ).all()
    assert sorted(r.phone_e164 for r in runs) == [p for p, _, _ in ROWS]
    assert {r.flow for r in runs} == {"order_pickup"} and {r.source for r in runs} == {"bulk"}
    assert sorted(states) == ["started", "started"]
    assert sorted(m.status for m in texts) == ["sent", "sent"]
    bodies = sorted(m.body for m in texts)
    assert "Hi Ana, your order AC1001 is ready for pickup" in bodies[0]
    assert "Reply STOP to opt out" in bodies[0]


def test_a_csv_for_the_wrong_flow_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "pickups.csv"
    path.write_text("phone,name\n+12125550141,Ana\n", encoding="utf-8")
    result = runner.invoke(app, ["flows", "send", "order_pickup", "--csv", str(path)])
    assert result.exit_code != 0
    assert "order" in result.output and "nothing was sent" in result.output


def test_to_and_csv_are_one_or_the_other(tmp_path: Path) -> None:
    result = runner.invoke(app, ["flows", "send", "order_pickup"])
    assert result.exit_code != 0 and "either --to" in result.output
