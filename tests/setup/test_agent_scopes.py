"""Brands and teams an admin gives agents, as they meet them: the README's own commands, the
`smsdesk agents` errors, and the console's Agents page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from app.cli import app
from app.config import get_settings
from app.handoff.agents import find_agent
from app.storage import open_database
from tests.conftest import REPO

runner = CliRunner()
PASSWORD = "a long enough password\n"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SMSDESK_ENV", "test")
    monkeypatch.setenv("SMSDESK_KNOWLEDGE_DIR", str(REPO / "knowledge"))
    get_settings.cache_clear()


def agents(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["agents", *args], input=stdin)
    return result.exit_code, result.output


def readme_block(heading: str) -> list[str]:
    """The command lines of the first ```sh block under `heading` in the README."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, heading
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_readmes_agent_commands_work_as_written(tmp_path: Path) -> None:
    (tmp_path / "pw.txt").write_text("a long passphrase\n")
    (tmp_path / "new-pw.txt").write_text("another long passphrase\n")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    # The README's `.venv/bin/smsdesk`, running this checkout's code.
    (bin_dir / "smsdesk").write_text(f'#!/bin/sh\nexec {sys.executable} -m app.cli "$@"\n')
    (bin_dir / "smsdesk").chmod(0o755)
    env = os.environ | {"PYTHONPATH": str(REPO)}
    for line in readme_block("## Agent console"):
        done = subprocess.run(
            line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (line, done.stderr)
        assert not done.stderr, (line, done.stderr)
    engine = open_database(get_settings().db_url)
    with Session(engine) as session:
        bo = find_agent(session, email="bo@example.com")
        # The updated agent sees this deployment's conversations (the README said `acme`).
        assert bo is not None and bo.role == "supervisor"
        assert bo.brands == [get_settings().brand_id] and bo.team is None
    engine.dispose()


def test_an_unknown_brand_is_refused_naming_the_valid_ones() -> None:
    code, out = agents(
        "add", "bo@example.com", "--brand", "acme", "--password-stdin", stdin=PASSWORD
    )
    assert code == 2
    assert out.strip() == (
        "error: unknown brand 'acme' (Acme is the display name of brand default: use default); "
        "the brands are: default (Acme)"
    )
    assert agents("list")[1].startswith("no agents yet")


def test_an_unknown_team_is_refused_naming_the_valid_ones() -> None:
    code, out = agents(
        "add", "bo@example.com", "--team", "biling", "--password-stdin", stdin=PASSWORD
    )
    assert code == 2
    assert "unknown team 'biling'; the teams are: accounts, appointments, billing, care," in out
    assert (
        agents("add", "bo@example.com", "--team", "billing", "--password-stdin", stdin=PASSWORD)[0]
        == 0
    )
    code, out = agents("update", "bo@example.com", "--team", "Billing")
    assert code == 2 and "unknown team 'Billing'" in out


def test_brands_and_teams_are_listed_with_their_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDESK_BRAND_NAME", "Bikes & Co")
    get_settings.cache_clear()
    code, out = agents("brands")
    assert code == 0 and out.splitlines() == ["default\tBikes & Co"]
    code, out = agents("teams")
    assert code == 0 and "billing\tCharges, refunds" in out
    assert agents("add", "bo@example.com", "--password-stdin", stdin=PASSWORD)[0] == 0
    assert "\tdefault (Bikes & Co)\t" in agents("list")[1]
