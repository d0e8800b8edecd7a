"""Scale-out throughput: `smsdesk worker` with 1 vs 2 processes on PostgreSQL (issue 15).

Run as users run the product: the AI layer on, with the shipped knowledge (`knowledge/`), its
models trained once before the trials into a data directory every trial shares. Each trial gets a
fresh database; the real `smsdesk worker --processes P --concurrency N` command starts on an empty
queue and the run waits until every process's heartbeat says its AI layer is ready; then the
backlog of inbound texts (many conversations; questions for the AI, some HELPs) is written as
webhooks write it (`accept_inbound`, each text and its procrastinate job in one transaction).
Throughput is taken over the processing window (first text processed to the last processing or
send step, the database's own timestamps) once the queue is empty. Trials of 1 and 2 processes
alternate; the ratio is of the medians measured in this one run.

Every trial also checks completeness: every text processed exactly once, nothing left queued.

    python bench/procrastinate_workers.py [--messages 500] [--conversations 50] \
        [--concurrency 4] [--repeats 3] [--bot ai|off] \
        [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
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
from app.jobs.procrastinate_engine import queue_for
from app.pipeline.ingress import accept_inbound
from app.runtime import build_runtime
from app.storage import normalise_url

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "procrastinate_workers.json"
KNOWLEDGE = REPO / "knowledge"
PROCESSED = "SELECT count(*) FROM messages WHERE direction = 'inbound' AND status = 'processed'"
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


def _settings(url: str, data_dir: Path, bot: str) -> Settings:
    return Settings(
        env="test",
        execution_mode="procrastinate",
        database_url=url,
        data_dir=data_dir,
        bot=bot,  # type: ignore[arg-type]
        knowledge_dir=KNOWLEDGE,
    )


def _prepare(url: str, data_dir: Path, bot: str) -> None:
    """Migrate and create procrastinate's schema (the workers would, racing the loader)."""
    runtime = build_runtime(_settings(url, data_dir, bot))
    queue_for(runtime.engine).ensure_schema()
    runtime.close()


def _backlog(url: str, data_dir: Path, bot: str, messages: int, conversations: int) -> None:
    """Store the texts as webhooks do: each with its job, in one transaction."""
    runtime = build_runtime(_settings(url, data_dir, bot))
    for n in range(messages):
        phone = f"+1212555{n % conversations:04d}"
        round_ = n // conversations  # every conversation gets one text per round
        body = "HELP" if round_ % 5 == 4 else QUESTIONS[round_ % len(QUESTIONS)]
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


def warm_models(data_dir: Path) -> float:
    """Train the intent model and index the knowledge into `data_dir` once (seconds taken)."""
    started = time.monotonic()
    runtime = build_runtime(
        Settings(env="test", data_dir=data_dir, knowledge_dir=KNOWLEDGE, bot="ai")
    )
    runtime.warm_up()
    runtime.close()
    return round(time.monotonic() - started, 1)


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


def _ready_workers(engine: Any, bot: str) -> int:
    want = "ready" if bot == "ai" else "off"
    with engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT count(*) FROM worker_heartbeats WHERE ai = :ai AND mode = :mode"),
                {"ai": want, "mode": "procrastinate"},
            ).scalar_one()
        )


def trial(admin_url: str, *, processes: int, concurrency: int, messages: int, conversations: int,
          data_dir: Path, bot: str, kill_one: bool = False) -> dict[str, Any]:  # fmt: skip
    name, url = _database(admin_url)
    try:
        _prepare(url, data_dir, bot)
        engine = create_engine(normalise_url(url))
        queue = queue_for(engine)
        env = os.environ | {
            "SMSDESK_DATABASE_URL": url,
            "SMSDESK_EXECUTION_MODE": "procrastinate",
            "SMSDESK_ENV": "test",
            "SMSDESK_BOT": bot,
            "SMSDESK_KNOWLEDGE_DIR": str(KNOWLEDGE),
            "SMSDESK_LOG_LEVEL": "WARNING",
            "SMSDESK_DATA_DIR": str(data_dir),
            "PYTHONPATH": str(REPO),
        }
        command = [sys.executable, "-m", "app.cli", "worker", "--processes", str(processes),
                   "--concurrency", str(concurrency)]  # fmt: skip
        children_cpu = _children_cpu_seconds()
        started = time.monotonic()
        worker = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, cwd=REPO)
        killed = None
        try:
            deadline = started + 600
            while _ready_workers(engine, bot) < processes:
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"workers not ready (exit code {worker.poll()})")
                time.sleep(0.05)
            warm = time.monotonic() - started
            if kill_one:
                # A child that dies within 10 s of its start stops everything: count from when
                # the children were ready, not from the supervisor's start (a loaded machine
                # spends seconds importing before it spawns them; killed too early, the whole
                # pool stopped and the run waited for texts nobody would process).
                time.sleep(11)
            loading = time.monotonic()
            _backlog(url, data_dir, bot, messages, conversations)
            loaded = time.monotonic() - loading
            cpu = CpuMeter()
            done = 0
            while time.monotonic() < deadline:
                if worker.poll() is not None:
                    raise RuntimeError(f"the workers stopped (exit code {worker.poll()})")
                done = _count(engine, PROCESSED)
                if kill_one and killed is None and done >= messages // 4:
                    killed = _kill_a_child(worker.pid)
                if done >= messages and not queue.queued():
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError(f"timed out with {done}/{messages} texts processed")
            wall = time.monotonic() - loading
            busy = cpu.busy_percent()
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=90)
            queue.close()
        worker_cpu = _children_cpu_seconds() - children_cpu
        with engine.connect() as connection:
            first, last = connection.execute(
                text(
                    "SELECT min(at) FILTER (WHERE status = 'processed'), max(at) "
                    "FROM message_status WHERE status IN ('processed', 'sent')"
                )
            ).one()
            processed_twice = _count(
                engine,
                "SELECT count(*) FROM (SELECT message_id FROM message_status "
                "WHERE status = 'processed' GROUP BY message_id HAVING count(*) > 1) twice",
            )
            not_processed = _count(
                engine,
                "SELECT count(*) FROM messages WHERE direction = 'inbound' "
                "AND status <> 'processed'",
            )
            stored = _count(engine, "SELECT count(*) FROM messages WHERE direction = 'inbound'")
            sent = _count(engine, "SELECT count(*) FROM console_outbox")
            out_of_order = _out_of_order(connection)
        engine.dispose()
        window = (last - first).total_seconds()
        return {
            "processes": processes,
            "concurrency": concurrency,
            "bot": bot,
            "messages": messages,
            "stored": stored,
            "not_processed": not_processed,
            "processed_twice": processed_twice,
            "processed_out_of_order": out_of_order,
            "replies_sent": sent,
            "worker_killed_pid": killed,
            "workers_ready_after_seconds": round(warm, 1),
            "backlog_written_seconds": round(loaded, 2),
            "window_seconds": round(window, 3),
            "wall_seconds_from_backlog": round(wall, 3),
            "messages_per_second": round(messages / window, 1),
            "machine_cpu_busy_percent": busy,
            "worker_processes_cpu_seconds_with_startup": round(worker_cpu, 2),
            "exit_code": worker.returncode,
        }
    finally:
        _drop(admin_url, name)


def _out_of_order(connection: Any) -> int:
    """Texts of a conversation processed before an earlier one (by arrival)."""
    rows = connection.execute(
        text(
            "SELECT m.conversation_id, m.provider_message_id, s.id FROM messages m "
            "JOIN message_status s ON s.message_id = m.id AND s.status = 'processed' "
            "WHERE m.direction = 'inbound' ORDER BY m.conversation_id, m.provider_message_id"
        )
    ).all()
    wrong, last = 0, {}
    for conversation, _sid, step in rows:
        if conversation in last and step < last[conversation]:
            wrong += 1
        last[conversation] = step
    return wrong


def _kill_a_child(parent: int) -> int | None:
    """SIGKILL one worker child of `parent` mid-run (the supervisor restarts it)."""
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except OSError:
        return None
    # The supervisor's own helper (multiprocessing's resource tracker) is not a worker.
    workers = [int(pid) for pid in children
               if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()]  # fmt: skip
    if not workers:
        return None
    os.kill(workers[0], signal.SIGKILL)
    return workers[0]


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
    parser.add_argument("--bot", choices=("ai", "off"), default="ai")
    parser.add_argument(
        "--kill-one", action="store_true",
        help="also run 2 processes and SIGKILL one mid-run (completeness, not timed)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=OUT)
    args = parser.parse_args()
    admin_url = normalise_url(args.admin_url)
    data_dir = Path(tempfile.mkdtemp(prefix="smsdesk-bench-"))
    trials: list[dict[str, Any]] = []
    killed: dict[str, Any] | None = None
    try:
        model_seconds = warm_models(data_dir) if args.bot == "ai" else None
        common = {
            "concurrency": args.concurrency,
            "messages": args.messages,
            "conversations": args.conversations,
            "data_dir": data_dir,
            "bot": args.bot,
        }
        for repeat in range(args.repeats):
            for processes in (1, 2):
                result = trial(admin_url, processes=processes, **common)  # type: ignore[arg-type]
                result["repeat"] = repeat
                trials.append(result)
                print(json.dumps(result))
        if args.kill_one:
            killed = trial(admin_url, processes=2, kill_one=True, **common)  # type: ignore[arg-type]
            print(json.dumps(killed))
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
        "bot": args.bot,
        "knowledge": str(KNOWLEDGE.relative_to(REPO)),
        "models_trained_seconds": model_seconds,
        "mix": "80% questions (for the AI layer), 20% HELP (answered by compliance)",
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
        "killed_worker_trial": killed,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("median_messages_per_second", "ratio_2_vs_1")}))


if __name__ == "__main__":
    main()
