"""Scale-out acknowledgement latency: one `smsdesk serve` replica on PostgreSQL (issue 15).

A fresh database; a real `smsdesk serve` in scale-out mode (SMSDESK_EXECUTION_MODE=procrastinate:
each acknowledged text is stored with its procrastinate job in the request's transaction, and the
server runs no jobs) is sent distinct, genuinely signed Twilio inbound-SMS webhooks on a fixed
open-loop schedule (bench/webhook_ingress.py's load generator: request i leaves at t0 + i/rate,
latency from the scheduled instant, no coordinated omission). In a deployment the workers run on
other machines; here they are started after the measured window (`--workers-during` runs them
during it too, sharing this machine's CPUs), and the run checks that every acknowledged text was
stored once and processed once, nothing left queued.

    python bench/scaleout_ingress.py [--rate 1000] [--seconds 30] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from webhook_ingress import (
    Server,
    customer,
    new_sid,
    open_loop,
    percentiles,
    run_loop,
    signed_webhook,
)

from app.jobs.procrastinate_engine import queue_for
from app.storage import make_engine, migrate, normalise_url

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "scaleout_ingress.json"
BODIES = ("What time do you open on Saturday?", "Is my order shipped yet?", "HELP")


class ScaleOutServer(Server):
    """`smsdesk serve` of this checkout in scale-out mode (healthy once it answers)."""

    def __init__(self, workdir: Path, url: str, *, log_level: str) -> None:
        super().__init__(workdir, workers=None, log_level=log_level, worker_process=False,
                         bot="off")  # fmt: skip
        self.database_url = url
        self.env |= {
            "SMSDESK_DATABASE_URL": url,
            "SMSDESK_EXECUTION_MODE": "procrastinate",
            "PYTHONPATH": str(REPO),
        }

    def start(self, timeout: float = 60.0) -> None:
        self._log = (self.workdir / "server.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1",
             "--port", str(self.port)],
            env=self.env, cwd=self.workdir, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"smsdesk serve exited:\n{self.log_tail()}")
            with contextlib.suppress(httpx2.HTTPError):
                if httpx2.get(self.base_url + "/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"smsdesk serve not healthy within {timeout} s:\n{self.log_tail()}")


def _workers(server: ScaleOutServer, processes: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", "--processes", str(processes)],
        env=server.env, cwd=server.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _count(engine: Any, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="offered req/s")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-connections", type=int, default=512)
    parser.add_argument("--timeout", type=float, default=15.0, help="Twilio's webhook timeout")
    parser.add_argument("--worker-processes", type=int, default=2)
    parser.add_argument("--workers-during", action="store_true")
    parser.add_argument("--drain-timeout", type=float, default=900.0)
    parser.add_argument(
        "--drain", action=argparse.BooleanOptionalAction, default=True,
        help="run workers until every text is processed (--no-drain: only check that every "
        "acknowledged text is stored with its job)",
    )  # fmt: skip
    parser.add_argument("--log-level", default="warning")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "SMSDESK_BENCH_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--json", type=Path, default=OUT)
    args = parser.parse_args()
    admin_url = normalise_url(args.admin_url)
    name = f"smsdesk_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
        pg_version = connection.execute(text("SHOW server_version")).scalar_one()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    workdir = Path(tempfile.mkdtemp(prefix="smsdesk-scaleout-"))
    engine = make_engine(url)
    workers: subprocess.Popen[bytes] | None = None
    server = ScaleOutServer(workdir, url, log_level=args.log_level)
    try:
        migrate(engine)
        queue = queue_for(engine)
        queue.ensure_schema()
        server.start()
        if args.workers_during:
            workers = _workers(server, args.worker_processes)
        total = int(args.rate * args.seconds)
        hooks = [signed_webhook(server, new_sid(), customer(i), BODIES[i % len(BODIES)])
                 for i in range(total)]  # fmt: skip
        cpu_before = server.cpu_seconds()
        outcomes, t0, opened = run_loop(
            open_loop(server.port, hooks, args.rate, connections=args.max_connections,
                      timeout=args.timeout)
        )  # fmt: skip
        cpu_after = server.cpu_seconds()
        acked = [o for o in outcomes if o.result == 200]
        latencies = [o.done - o.scheduled for o in acked]
        span = max(o.done for o in outcomes) - t0
        jobs_after_window = len(queue.queued())
        if workers is None and args.drain:
            workers = _workers(server, args.worker_processes)
        drained = time.monotonic()
        deadline = drained + args.drain_timeout
        while args.drain and time.monotonic() < deadline:
            done = _count(engine, "SELECT count(*) FROM messages WHERE status = 'processed' "
                                  "AND direction = 'inbound'")  # fmt: skip
            if done >= len(acked) and not queue.queued():
                break
            time.sleep(0.2)
        drain_seconds = time.monotonic() - drained
        sids = {hook.sid for hook, o in zip(hooks, outcomes, strict=True) if o.result == 200}
        with engine.connect() as connection:
            stored_rows = connection.execute(
                text("SELECT provider_message_id, status FROM messages WHERE direction = 'inbound'")
            ).all()
            processed_twice = connection.execute(
                text(
                    "SELECT count(*) FROM (SELECT message_id FROM message_status WHERE "
                    "status = 'processed' GROUP BY message_id HAVING count(*) > 1) twice"
                )
            ).scalar_one()
        stored = {row[0] for row in stored_rows}
        report = {
            "benchmark": "smsdesk serve in scale-out mode: webhook acknowledgements on PostgreSQL",
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "offered_per_second": args.rate,
            "seconds": args.seconds,
            "requests": total,
            "acknowledged": len(acked),
            "errors": {
                str(r): sum(1 for o in outcomes if o.result == r)
                for r in {o.result for o in outcomes}
                if r != 200
            },
            "acked_per_second": round(len(acked) / span, 1),
            "ack_ms": percentiles(latencies, 1000.0),
            "server_cpu_seconds": (
                round(cpu_after - cpu_before, 2) if cpu_before and cpu_after else None
            ),
            "connections_opened": opened,
            "workers_during_window": args.workers_during,
            "worker_processes": args.worker_processes,
            "lost": len(sids - stored),
            "stored_rows": len(stored_rows),
            "duplicated_rows": len(stored_rows) - len(stored),
            "not_processed": sum(1 for row in stored_rows if row[1] != "processed"),
            "processed_twice": int(processed_twice),
            "jobs_queued_after_window": jobs_after_window,
            "drained": args.drain,
            "left_queued": len(queue.queued()),
            "drain_seconds": round(drain_seconds, 1),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "postgresql": pg_version,
                "note": "PostgreSQL, the server and the load generator share this machine",
            },
        }
        queue.close()
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
    finally:
        if workers is not None:
            workers.send_signal(signal.SIGTERM)
            try:
                workers.wait(timeout=90)
            except subprocess.TimeoutExpired:
                workers.kill()
        server.stop()
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
