"""`smsdesk kb ...` through the real command line (typer's CliRunner on app.cli.app)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.config import get_settings
from tests.ai.test_index import small_kb

runner = CliRunner()


@pytest.fixture
def kb_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings pointing at a small knowledge base and an empty data dir, both temporary."""
    kb_dir = small_kb(tmp_path / "knowledge")
    monkeypatch.setenv("SMSDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMSDESK_KNOWLEDGE_DIR", str(kb_dir))
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    get_settings.cache_clear()
    yield kb_dir
    get_settings.cache_clear()


def test_sync_then_search_explains_the_match(kb_env: Path) -> None:
    result = runner.invoke(app, ["kb", "search", "hours"])
    assert result.exit_code == 2
    assert "run `smsdesk kb sync` first" in result.output

    result = runner.invoke(app, ["kb", "sync"])
    assert result.exit_code == 0, result.output
    assert "added 4, updated 0, removed 0, unchanged 0" in result.output

    result = runner.invoke(app, ["kb", "sync"])
    assert "added 0, updated 0, removed 0, unchanged 4" in result.output

    result = runner.invoke(
        app, ["kb", "search", "r u open on sundays", "-k", "2"], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "store-hours" in result.output
    assert "are you open sunday" in result.output  # the phrasing that matched
    assert "Sun 10am-6pm" in result.output  # the answer


def test_check_reports_problems_with_file_and_field(kb_env: Path) -> None:
    assert runner.invoke(app, ["kb", "check"]).exit_code == 0
    bad = kb_env / "entries" / "store-hours.md"
    bad.write_text(bad.read_text().replace("intent: store_hours", "intent: opening_times"))
    result = runner.invoke(app, ["kb", "check"])
    assert result.exit_code == 2
    assert "store-hours.md: field 'intent': unknown intent opening_times" in result.output


def test_import_simple_csv_and_bad_files(kb_env: Path, tmp_path: Path) -> None:
    good = tmp_path / "faq.csv"
    good.write_text(
        "question,answer,intent,phrasings\n"
        "Do you sell e-bikes?,Yes - e-bikes are in every store.,product_availability,"
        "got ebikes?|electric bikes?\n"
    )
    result = runner.invoke(app, ["kb", "import", str(good), "--layout", "simple"])
    assert result.exit_code == 0, result.output
    assert (kb_env / "entries" / "do-you-sell-e-bikes.md").exists()
    assert "validates" in result.output

    again = runner.invoke(app, ["kb", "import", str(good)])
    assert again.exit_code == 2
    assert "exists (use --force" in again.output

    bad = tmp_path / "bad.csv"
    bad.write_text("q,a\nx,y\n")
    result = runner.invoke(app, ["kb", "import", str(bad), "--layout", "bitext"])
    assert result.exit_code == 2
    assert "missing column(s) instruction, intent, response" in result.output
