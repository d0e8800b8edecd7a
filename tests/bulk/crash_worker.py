"""A process that runs a campaign's jobs and can die by SIGKILL at a chosen point.

    python -m tests.bulk.crash_worker DATABASE_URL SENT_FILE --at ISO [--kill-at-start N]
                                      [--kill-after-batch N]

The provider edge appends each text it is handed to SENT_FILE (flushed and fsynced before the
hand-off counts), so a text handed over twice across a crash shows twice.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from app import clock
from app.campaigns.contract import FlowStart, StartOutcome
from app.campaigns.runner import CampaignRunner
from app.campaigns.service import RUN_CAMPAIGN
from app.channels.base import OutboundSms, SendResult
from app.compliance.service import Compliance
from app.config import Settings
from app.jobs.inprocess import InProcessEngine
from app.outbound.send import SEND_OUTBOUND, OutboundSender
from app.storage import make_engine
from tests.bulk.conftest import StandInFlows


class FileSender:
    """Records every hand-off in a file that outlives the process."""

    name = "console"

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, sms: OutboundSms) -> SendResult:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(f"{sms.to_number}\n")
            out.flush()
            os.fsync(out.fileno())
        return SendResult(f"SM{sms.message_id.hex}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("sent_file", type=Path)
    parser.add_argument("--kill-at-start", type=int, default=0)
    parser.add_argument("--kill-after-batch", type=int, default=0)
    parser.add_argument(
        "--at",
        type=datetime.fromisoformat,
        required=True,
        help="the clock, stopped (a daytime instant: quiet hours hold texts)",
    )
    args = parser.parse_args(argv)
    with clock.frozen(args.at):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    engine = make_engine(args.database_url)
    flows = StandInFlows(engine)
    starts = 0

    def start(session: Session, request: FlowStart) -> StartOutcome:
        nonlocal starts
        starts += 1
        if starts == args.kill_at_start:
            os.kill(os.getpid(), signal.SIGKILL)  # mid-batch: nothing of it is committed
        return flows.start(session, request)

    campaigns = CampaignRunner(engine, start, batch_size=3)
    batches = 0

    def run_batch(payload: dict[str, Any]) -> None:
        nonlocal batches
        campaigns(payload)
        batches += 1
        if batches == args.kill_after_batch:
            os.kill(os.getpid(), signal.SIGKILL)  # committed, but the job is still `running`

    settings = Settings(env="test", bot="off", database_url=args.database_url)
    sender = OutboundSender(engine, Compliance(engine, settings), FileSender(args.sent_file))
    jobs = InProcessEngine(
        engine, handlers={RUN_CAMPAIGN: run_batch, SEND_OUTBOUND: sender}, workers=1
    )
    jobs.recover()
    jobs.drain()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
