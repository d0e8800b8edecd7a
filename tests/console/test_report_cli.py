"""`smsdesk report agents`: the Reports page's figures on the command line and as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app import clock
from app.cli import app
from app.config import get_settings
from app.console.report_csv import AGENT_COLUMNS
from app.storage import open_database
from tests.console.test_reports import AT, seed

runner = CliRunner()


@pytest.fixture(autouse=True)
def _seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SMSDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SMSDESK_ENV", "test")
    get_settings.cache_clear()
    engine = open_database(get_settings().db_url)
    seed(engine)
    engine.dispose()
    with clock.frozen(AT):
        yield
    get_settings.cache_clear()


def test_csv_for_one_brand_and_a_table_for_all() -> None:
    result = runner.invoke(app, ["report", "agents", "--period", "7d", "--brand", "acme", "--csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert tuple(rows[0]) == AGENT_COLUMNS
    table = {row[0]: row for row in rows[1:]}
    assert sorted(table) == ["ana@example.com", "bo@example.com", "sue@example.com"]
    assert table["ana@example.com"][2:7] == ["4", "3", "600", str(85 * 60), str(45 * 60)]

    everyone = runner.invoke(app, ["report", "agents", "--period", "24h"], env={"COLUMNS": "160"})
    assert everyone.exit_code == 0, everyone.output
    assert "gil@example.com" in everyone.output and "America/New_York" in everyone.output


def test_unknown_brand_or_period_is_one_error() -> None:
    result = runner.invoke(app, ["report", "agents", "--brand", "nope", "--csv"])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "nope" in result.output
    assert runner.invoke(app, ["report", "agents", "--period", "1y"]).exit_code == 2
