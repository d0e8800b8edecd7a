"""`smsdesk flows send FLOW --csv`: bulk sends from the command line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from app import clock
from app.campaigns import cli as bulk_cli
from app.cli import app
from app.config import get_settings
from app.storage import open_database
from app.storage.tables import Campaign, Message
from tests.bulk.conftest import StandInFlows, csv_of

runner = CliRunner()
NOON_ET = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)
PHONES = ["+12125550101", "+12125550102", "+12125550103"]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SMSDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMSDESK_ENV", "test")
    get_settings.cache_clear()
    engine = open_database(get_settings().db_url)
    monkeypatch.setattr(bulk_cli, "default_flows", lambda _settings: StandInFlows(engine).flows())
    with clock.frozen(NOON_ET):
        yield
    get_settings.cache_clear()


def write(tmp_path: Path, rows: list[tuple[str, ...]]) -> Path:
    path = tmp_path / "recipients.csv"
    path.write_text(csv_of(rows), encoding="utf-8")
    return path


def test_a_bulk_send_runs_to_the_end_with_its_counts(tmp_path: Path) -> None:
    path = write(tmp_path, [(phone, "Ana", "Main St") for phone in PHONES])
    result = runner.invoke(
        app, ["flows", "send", "order_pickup", "--csv", str(path), "--campaign-name", "June"]
    )
    assert result.exit_code == 0, result.output
    assert "started 3" in result.output and "texts sent 3" in result.output
    engine = open_database(get_settings().db_url)
    with Session(engine) as session:
        (campaign,) = session.exec(select(Campaign)).all()
        texts = session.exec(select(Message).where(Message.campaign_id == campaign.id)).all()
    assert campaign.name == "June" and campaign.status == "done"
    assert sorted(m.status for m in texts) == ["sent"] * 3


def test_bad_lines_are_listed_with_file_and_line_and_nothing_is_sent(tmp_path: Path) -> None:
    path = write(tmp_path, [(PHONES[0], "Ana", "Main St"), (PHONES[1], "", "Main St")])
    result = runner.invoke(app, ["flows", "send", "order_pickup", "--csv", str(path)])
    assert result.exit_code == 2
    assert f"{path}:3: missing variable(s): name" in result.output
    assert "nothing was sent" in result.output
    with Session(open_database(get_settings().db_url)) as session:
        assert session.exec(select(Campaign)).all() == []


def test_the_dry_run_lists_who_would_be_skipped(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(csv_of([(PHONES[0], "Ana")], header="phone,name"), encoding="utf-8")
    result = runner.invoke(
        app, ["flows", "send", "lead_qualification", "--csv", str(path), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert (
        "no_marketing_consent" in result.output and "skip:no_marketing_consent 1" in result.output
    )
    with Session(open_database(get_settings().db_url)) as session:
        assert session.exec(select(Campaign)).all() == []


def test_an_unknown_flow_is_one_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, [(PHONES[0], "Ana", "Main St")])
    result = runner.invoke(app, ["flows", "send", "nope", "--csv", str(path)])
    assert result.exit_code == 2 and "no flow named 'nope'" in result.output


def test_in_scale_out_mode_without_a_worker_the_campaign_waits_on_the_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_engine: Engine
) -> None:
    """Its jobs are on procrastinate's queue: the command says so instead of sending from the
    embedded queue, which would never see them."""
    from app.jobs.procrastinate_engine import queue_for

    url = pg_engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("SMSDESK_DATABASE_URL", url)
    monkeypatch.setenv("SMSDESK_EXECUTION_MODE", "procrastinate")
    get_settings.cache_clear()
    monkeypatch.setattr(bulk_cli, "default_flows", lambda _s: StandInFlows(pg_engine).flows())
    path = write(tmp_path, [(phone, "Ana", "Main St") for phone in PHONES])
    result = runner.invoke(app, ["flows", "send", "order_pickup", "--csv", str(path)])
    assert result.exit_code == 0, result.output
    assert "no smsdesk worker is running: the campaign is queued" in result.output
    with Session(pg_engine) as session:
        (campaign,) = session.exec(select(Campaign)).all()
        assert session.exec(select(Message)).all() == []  # nothing sent from here
    assert campaign.status != "done"
    assert queue_for(pg_engine).queued()  # its work waits for a worker
