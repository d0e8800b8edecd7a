"""Scale-out throughput: `smsdesk worker` with 1 vs 2 processes on PostgreSQL (issue #4).

Each trial gets a fresh database with a backlog of inbound texts across many conversations
(mostly questions, which go to the human queue with one acknowledgement per conversation, and
some HELPs, which are answered through the console provider), then starts the real
`smsdesk worker --processes P --concurrency N` command and times it until every job is done.
Throughput is taken over the processing window (first text processed to last job finished, from
the database's own timestamps), so process start-up is left out; the wall time including
start-up is reported too. Trials of 1 and 2 processes alternate, and the ratio is of the medians
measured in this one run.

    python bench/procrastinate_workers.py [--messages 500] [--conversations 50] \
        [--concurrency 4] [--repeats 3] [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.channels.base import InboundSms
from app.config import Settings
from app.pipeline.ingress import accept_inbound
from app.runtime import build_runtime
from app.storage import normalise_url

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "procrastinate_workers.json"
SMSDESK = Path(sys.executable).with_name("smsdesk")
QUESTIONS = [
    "What time do you open on Saturday?",
    "Is my order 4417 shipped yet?",
    "Can I change my delivery address?",
    "Do you have the blue one in a medium?",
]


def _database(admin_url: str) -> tuple[str, str]:
    name = f"smsdesk_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _backlog(url: str, data_dir: Path, messages: int, conversations: int) -> int:
    """Migrate, create procrastinate's schema and store the texts; returns the job count."""
    settings = Settings(
        env="test", execution_mode="procrastinate", database_url=url, data_dir=data_dir
    )
    runtime = build_runtime(settings)
    runtime.jobs.ensure_schema()  # type: ignore[attr-defined]
    helps = 0
    for n in range(messages):
        phone = f"+1212555{n % conversations:04d}"
        round_ = n // conversations  # every conversation gets one text per round
        body = "HELP" if round_ % 5 == 4 else QUESTIONS[round_ % len(QUESTIONS)]
        helps += body == "HELP"
        sms = InboundSms(
            provider="twilio",
            provider_message_id=f"SM{n:032d}",
            from_number=phone,
            to_number="+18005550199",
            body=body,
            received_at=datetime.now(UTC),
        )
        accept_inbound(runtime.engine, sms, brand="default")
    runtime.close()
    # Every HELP is answered, and each conversation's first question hands it to a person with
    # one acknowledgement (later questions join the waiting item): one send job each.
    return messages + helps + min(messages, conversations)


def _count(engine: Any, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


class CpuMeter:
    """Share of the whole machine's CPU time that was busy (Linux /proc/stat), in percent."""

    def __init__(self) -> None:
        self.start = self._read()

    @staticmethod
    def _read() -> tuple[int, int] | None:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        except (OSError, ValueError):
            return None
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    def busy_percent(self) -> float | None:
        end = self._read()
        if self.start is None or end is None or end[0] == self.start[0]:
            return None
        total, idle = end[0] - self.start[0], end[1] - self.start[1]
        return round(100.0 * (1 - idle / total), 1)


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def trial(admin_url: str, *, processes: int, concurrency: int, messages: int, conversations: int,
          data_dir: Path) -> dict[str, Any]:  # fmt: skip
    name, url = _database(admin_url)
    try:
        expected_jobs = _backlog(url, data_dir, messages, conversations)
        engine = create_engine(normalise_url(url))
        env = os.environ | {
            "SMSDESK_DATABASE_URL": url,
            "SMSDESK_EXECUTION_MODE": "procrastinate",
            "SMSDESK_ENV": "test",
            "SMSDESK_BOT": "off",  # the job machinery's throughput, not the AI layer's
            "SMSDESK_LOG_LEVEL": "WARNING",
            "SMSDESK_DATA_DIR": str(data_dir),
        }
        command = [str(SMSDESK), "worker", "--processes", str(processes),
                   "--concurrency", str(concurrency)]  # fmt: skip
        children_cpu = _children_cpu_seconds()
        started = time.monotonic()
        worker = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        cpu = CpuMeter()
        try:
            deadline = started + 600
            while time.monotonic() < deadline:
                done = _count(engine, "SELECT count(*) FROM jobs WHERE state = 'done'")
                if done >= expected_jobs:
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError(f"timed out with {done}/{expected_jobs} jobs done")
            wall = time.monotonic() - started
            busy = cpu.busy_percent()
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        worker_cpu = _children_cpu_seconds() - children_cpu
        with engine.connect() as connection:
            first, last = connection.execute(
                text(
                    "SELECT min(at) FILTER (WHERE status = 'processed'), max(at) "
                    "FROM message_status WHERE status IN ('processed', 'sent')"
                )
            ).one()
            failed = _count(engine, "SELECT count(*) FROM jobs WHERE state <> 'done'")
            sent = _count(engine, "SELECT count(*) FROM console_outbox")
        engine.dispose()
        window = (last - first).total_seconds()
        return {
            "processes": processes,
            "concurrency": concurrency,
            "jobs": expected_jobs,
            "replies_sent": sent,
            "jobs_not_done": failed,
            "window_seconds": round(window, 3),
            "wall_seconds_with_startup": round(wall, 3),
            "messages_per_second": round(messages / window, 1),
            "jobs_per_second": round(expected_jobs / window, 1),
            "machine_cpu_busy_percent": busy,
            "worker_processes_cpu_seconds_with_startup": round(worker_cpu, 2),
            "exit_code": worker.returncode,
        }
    finally:
        _drop(admin_url, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "SMSDESK_BENCH_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--json", type=Path, default=OUT)
    args = parser.parse_args()
    admin_url = normalise_url(args.admin_url)
    data_dir = Path(tempfile.mkdtemp(prefix="smsdesk-bench-"))
    trials: list[dict[str, Any]] = []
    try:
        for repeat in range(args.repeats):
            for processes in (1, 2):
                result = trial(admin_url, processes=processes, concurrency=args.concurrency,
                               messages=args.messages, conversations=args.conversations,
                               data_dir=data_dir)  # fmt: skip
                result["repeat"] = repeat
                trials.append(result)
                print(json.dumps(result))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    median = {
        p: statistics.median(t["messages_per_second"] for t in trials if t["processes"] == p)
        for p in (1, 2)
    }
    admin = create_engine(admin_url)
    with admin.connect() as connection:
        server = connection.execute(text("SHOW server_version")).scalar_one()
    admin.dispose()
    report = {
        "benchmark": "smsdesk worker: 1 vs 2 processes, backlog drain on PostgreSQL",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "messages": args.messages,
        "conversations": args.conversations,
        "concurrency_per_process": args.concurrency,
        "mix": "80% questions (handed to a person), 20% HELP (answered and sent)",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "postgresql": server,
            "note": "PostgreSQL runs on the same machine as the workers and shares its CPUs",
        },
        "median_messages_per_second": {"1_process": median[1], "2_processes": median[2]},
        "ratio_2_vs_1": round(median[2] / median[1], 2),
        "trials": trials,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("median_messages_per_second", "ratio_2_vs_1")}))


if __name__ == "__main__":
    main()
