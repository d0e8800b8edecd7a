"""A bulk send survives SIGKILL: a real process running the campaign's jobs is killed mid-batch
and just after a batch's commit, restarted on the same database, and every recipient gets the
flow's first text exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app import clock
from app.campaigns.recipients import read_csv
from app.campaigns.service import campaign_progress, create_campaign
from tests.bulk.conftest import PICKUP, csv_of

REPO = Path(__file__).resolve().parents[2]
PHONES = [f"+1212555{n:04d}" for n in range(201, 211)]


# The worker's clock: tomorrow afternoon, whenever the test runs (the texts would otherwise
# wait out the recipients' quiet hours on a night-time run and none would be sent).
DAYTIME = clock.next_daytime()


def run_worker(engine: Engine, sent: Path, *flags: str) -> int:
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": str(REPO), "SMSDESK_ENV": "test"}
    command = [
        sys.executable, "-m", "tests.bulk.crash_worker", url, str(sent),
        "--at", DAYTIME.isoformat(), *flags,
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, timeout=120)
    return done.returncode


@pytest.mark.parametrize(
    "kill", [("--kill-at-start", "5"), ("--kill-after-batch", "2")], ids=["mid-batch", "committed"]
)
def test_a_killed_campaign_resumes_and_texts_everyone_once(
    engine: Engine, tmp_path: Path, kill: tuple[str, str]
) -> None:
    rows = [(phone, "Ana", "Main St") for phone in PHONES]
    campaign = create_campaign(
        engine,
        flow=PICKUP,
        recipients=read_csv(csv_of(rows), PICKUP),
        brand="default",
        name=None,
        source="cli",
    )
    sent = tmp_path / "sent.txt"
    assert run_worker(engine, sent, *kill) == -9  # SIGKILL
    progress = campaign_progress(engine, campaign.id)
    assert progress is not None and not progress.done and progress.states["pending"] > 0
    assert run_worker(engine, sent) == 0  # the restart
    progress = campaign_progress(engine, campaign.id)
    assert progress is not None and progress.done and progress.states["started"] == len(PHONES)
    handed_over = Counter(sent.read_text(encoding="utf-8").split())
    assert handed_over == dict.fromkeys(PHONES, 1)
