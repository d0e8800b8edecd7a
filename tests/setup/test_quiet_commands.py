"""Commands keep the ML libraries' chatter out of their output unless `--verbose` is given."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.cli_output import working
from app.config import get_settings

CLASSIFY = ["compliance", "classify", "STOP", "--from", "+12125550123"]


@pytest.fixture(autouse=True)
def _clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDESK_DATA_DIR", str(tmp_path))
    for name in ("HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE", "TRANSFORMERS_VERBOSITY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SMSDESK_LOG_LEVEL", raising=False)
    get_settings.cache_clear()


def test_a_command_turns_the_libraries_bars_off() -> None:
    result = CliRunner().invoke(app, CLASSIFY)
    assert result.exit_code == 0, result.output
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"  # weight-loading bars
    assert os.environ["TQDM_DISABLE"] == "1"
    assert os.environ["TRANSFORMERS_VERBOSITY"] == "error"
    assert logging.getLogger("sentence_transformers").level == logging.WARNING


def test_a_value_set_by_the_user_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TQDM_DISABLE", "0")
    assert CliRunner().invoke(app, CLASSIFY).exit_code == 0
    assert os.environ["TQDM_DISABLE"] == "0"


def test_verbose_shows_everything() -> None:
    result = CliRunner().invoke(app, ["--verbose", *CLASSIFY])
    assert result.exit_code == 0, result.output
    assert "HF_HUB_DISABLE_PROGRESS_BARS" not in os.environ
    assert get_settings().log_level == "DEBUG"
    os.environ.pop("SMSDESK_LOG_LEVEL")  # set by --verbose for the command's process


def test_the_spinner_stays_out_of_piped_output(capsys: pytest.CaptureFixture[str]) -> None:
    with working("Loading the sentence encoder"):
        print("result")
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("result\n", "")
