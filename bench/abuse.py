"""No way down, measured: a real `smsdesk serve` on loopback, flooded and fed oversized uploads.

For each database (SQLite, and PostgreSQL when a server is available), a fresh server is
started (embedded mode, console provider, people-only bot) and:

1. idle: signed Twilio webhooks are sent at `--rate` per second for `--seconds` (open loop:
   each leaves at its scheduled instant) and their acknowledgement latency is measured;
2. flooded: the same schedule again while `--console` signed-in requests from one agent
   (pages and the queue API, closed loop) and `--compliance` classify requests (texts of the
   1,600-character limit with a key, and 200,000-character ones without) run at once;
   the result is the webhooks' p99 and its ratio to the idle run of the same database;
3. uploads: chunked uploads of `--upload-mb` to the webhook and (without a key) to the JSON
   API, and a declared 300 MB Content-Length, while the server's peak resident memory
   (VmHWM) is read before and after: the growth is the figure (target: flat).

    python bench/abuse.py [--databases sqlite,postgres] [--seconds 10] [--json OUT.json]
    python bench/abuse.py --quick    # the small CI run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import select
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
from sqlmodel import Session
from webhook_ingress import API_KEY, REPO, Server, new_sid, percentiles, signed_webhook

from app.handoff.agents import create_agent
from app.storage import make_engine

TARGET = {"flooded_ack_p99_ms": 1000.0, "upload_rss_growth_mb": 32.0}
PASSWORD = "correct horse battery"
AGENT = "bench-agent@example.com"
MB = 1024 * 1024
LIMIT_TEXT = ("where is my order, it was due on tuesday " * 40)[:1600]
HUGE_TEXT = "please cancel my order " * 8_700  # ~200,000 characters


# --------------------------------------------------------------------------- databases


@contextlib.contextmanager
def postgres(admin_url: str | None) -> Iterator[str | None]:
    """An empty PostgreSQL database URL (a throw-away server if no admin URL), or None."""
    sys.path.insert(0, str(REPO))
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from tests.conftest import _pg_binaries, _ThrowawayPostgres

    server = None
    if admin_url is None:
        bindir = _pg_binaries()
        if bindir is None:
            yield None
            return
        server = _ThrowawayPostgres(bindir)
        admin_url = server.start()
    name = f"smsdesk_abuse_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if server is not None:
            server.stop()


def start_server(workdir: Path, database_url: str | None) -> Server:
    server = Server(workdir, workers=None, log_level="warning", worker_process=True, bot="off")
    if database_url is not None:
        server.env["SMSDESK_DATABASE_URL"] = database_url
        server.database_url = database_url
    server.start()
    engine = make_engine(server.database_url)
    with Session(engine) as session:
        create_agent(session, email=AGENT, password=PASSWORD, brands=["default"])
    engine.dispose()
    return server


# --------------------------------------------------------------------------- load


async def webhooks(server: Server, rate: float, seconds: float) -> tuple[list[float], Counter[str]]:
    """Signed webhooks on a fixed schedule: acknowledgement latencies (s) and outcomes."""
    count = max(1, round(rate * seconds))
    hooks = [
        signed_webhook(server, new_sid(), f"+1415555{i % 10_000:04d}", "What time do you open?")
        for i in range(count)
    ]
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    async with httpx2.AsyncClient(base_url=server.base_url, timeout=30.0) as client:
        t0 = time.perf_counter()

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
            scheduled = t0 + i / rate
            head, _, body = hooks[i].data.partition(b"\r\n\r\n")
            headers = dict(
                line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line
            )
            headers.pop("Host", None)
            try:
                answer = await client.post("/webhooks/twilio/sms", content=body, headers=headers)
                outcomes[str(answer.status_code)] += 1
                if answer.status_code == 200:
                    latencies.append(time.perf_counter() - scheduled)
            except httpx2.HTTPError as exc:
                outcomes[type(exc).__name__] += 1

        await asyncio.gather(*(one(i) for i in range(count)))
    return latencies, outcomes


async def flood(
    server: Server, stop: asyncio.Event, *, console: int, compliance: int
) -> dict[str, Counter[str]]:
    """Closed-loop floods of console and compliance requests until `stop` is set."""
    seen: dict[str, Counter[str]] = {"console": Counter(), "compliance": Counter()}
    limits = httpx2.Limits(max_connections=console + compliance + 10)
    async with httpx2.AsyncClient(base_url=server.base_url, timeout=60.0, limits=limits) as c:
        login = await c.post("/console/login", data={"email": AGENT, "password": PASSWORD})
        login.raise_for_status()
        paths = ["/console/", "/console/api/queue", "/console/api/me"]
        key = {"Authorization": f"Bearer {API_KEY}"}

        async def agent(i: int) -> None:
            n = i
            while not stop.is_set():
                n += 1
                with contextlib.suppress(httpx2.HTTPError):
                    answer = await c.get(paths[n % len(paths)])
                    seen["console"][str(answer.status_code)] += 1

        async def integrator(i: int) -> None:
            n = i
            while not stop.is_set():
                n += 1
                with contextlib.suppress(httpx2.HTTPError):
                    if n % 2:
                        payload = {"text": LIMIT_TEXT, "from": "+12125550123"}
                        answer = await c.post(
                            "/api/v1/compliance/classify", json=payload, headers=key
                        )
                    else:  # a stranger's huge text
                        payload = {"text": HUGE_TEXT, "from": "+12125550123"}
                        answer = await c.post("/api/v1/compliance/classify", json=payload)
                    seen["compliance"][str(answer.status_code)] += 1

        await asyncio.gather(
            *(agent(i) for i in range(console)), *(integrator(i) for i in range(compliance))
        )
    return seen


async def flooded_webhooks(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    stop = asyncio.Event()
    floods = asyncio.create_task(
        flood(server, stop, console=args.console, compliance=args.compliance)
    )
    await asyncio.sleep(1.0)  # let the flood build up before the measured webhooks
    latencies, outcomes = await webhooks(server, args.rate, args.seconds)
    stop.set()
    seen = await floods
    return {
        "ack_latency_ms": percentiles(latencies, 1000),
        "outcomes": dict(outcomes),
        "console_answers": dict(seen["console"]),
        "compliance_answers": dict(seen["compliance"]),
    }


# --------------------------------------------------------------------------- uploads


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def chunked_upload(
    server: Server, path: str, total: int, headers: dict[str, str]
) -> dict[str, Any]:
    """POST `total` bytes chunked; stop when the server answers. Status and bytes sent."""
    chunk = 64 * 1024
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", "Transfer-Encoding: chunked"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    frame = b"%x\r\n" % chunk + b"a" * chunk + b"\r\n"
    sent = 0
    status: int | None = None
    with socket.create_connection(("127.0.0.1", server.port), timeout=120) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < total and not select.select([sock], [], [], 0)[0]:
                sock.sendall(frame)
                sent += chunk
            if sent >= total:
                sock.sendall(b"0\r\n\r\n")
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            answer = sock.recv(4096)
            if answer.startswith(b"HTTP/1.1 "):
                status = int(answer.split()[1])
    return {"status": status, "sent_mb": round(sent / MB, 1)}


def declared_upload(server: Server) -> int | None:
    request = (
        f"POST /webhooks/twilio/sms HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 300000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=120) as sock:
        sock.sendall(request.encode())
        answer = sock.recv(4096)
    return int(answer.split()[1]) if answer.startswith(b"HTTP/1.1 ") else None


def uploads(server: Server, megabytes: int) -> dict[str, Any]:
    assert server.process is not None
    pid = server.process.pid
    before = peak_rss(pid)
    total = megabytes * MB
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    results = {
        "webhook_chunked": chunked_upload(server, "/webhooks/twilio/sms", total, form),
        "api_chunked_without_key": chunked_upload(
            server, "/api/v1/compliance/classify", total, {"Content-Type": "application/json"}
        ),
        "webhook_declared_300mb_status": declared_upload(server),
    }
    after = peak_rss(pid)
    return {
        "upload_mb": megabytes,
        **results,
        "rss_peak_before_mb": round(before / MB, 1),
        "rss_peak_after_mb": round(after / MB, 1),
        "rss_growth_mb": round((after - before) / MB, 1),
    }


# --------------------------------------------------------------------------- run


def run_database(name: str, database_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"smsdesk-abuse-{name}-") as workdir:
        server = start_server(Path(workdir), database_url)
        try:
            asyncio.run(webhooks(server, args.rate, 1.0))  # warm-up, not measured
            idle_latencies, idle_outcomes = asyncio.run(webhooks(server, args.rate, args.seconds))
            flooded = asyncio.run(flooded_webhooks(server, args))
            upload = uploads(server, args.upload_mb)
        finally:
            server.stop()
    idle_p99 = percentiles(idle_latencies, 1000)["p99"]
    flooded_p99 = flooded["ack_latency_ms"]["p99"]
    return {
        "database": name,
        "idle": {"ack_latency_ms": percentiles(idle_latencies, 1000), "outcomes": idle_outcomes},
        "flooded": flooded,
        "flooded_to_idle_p99": (
            round(flooded_p99 / idle_p99, 1) if flooded_p99 and idle_p99 else None
        ),
        "flooded_ack_p99_met": flooded_p99 is not None
        and flooded_p99 < TARGET["flooded_ack_p99_ms"],
        "uploads": upload,
        "upload_rss_flat": upload["rss_growth_mb"] < TARGET["upload_rss_growth_mb"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=os.environ.get("SMSDESK_TEST_DATABASE_URL"))
    parser.add_argument("--rate", type=float, default=20.0, help="webhooks per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--console", type=int, default=60, help="concurrent console requests")
    parser.add_argument("--compliance", type=int, default=45, help="concurrent classify calls")
    parser.add_argument("--upload-mb", type=int, default=400)
    parser.add_argument("--quick", action="store_true", help="the small CI run (SQLite only)")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "abuse.json")
    args = parser.parse_args()
    if args.quick:
        args.databases, args.rate, args.seconds = "sqlite", 10.0, 2.0
        args.console, args.compliance, args.upload_mb = 20, 10, 64
    results = []
    for name in [d.strip() for d in args.databases.split(",") if d.strip()]:
        print(f"{name} ...", flush=True)
        if name == "sqlite":
            results.append(run_database(name, None, args))
            continue
        with postgres(args.postgres_url) as url:
            if url is None:
                print("  no PostgreSQL server available: skipped", flush=True)
                continue
            results.append(run_database(name, url, args))
    report = {
        "suite": "abuse",
        "machine": {
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
        },
        "config": {
            "rate": args.rate,
            "seconds": args.seconds,
            "console_concurrency": args.console,
            "compliance_concurrency": args.compliance,
            "upload_mb": args.upload_mb,
            "quick": args.quick,
            "target": TARGET,
        },
        "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    for r in results:
        idle, flooded = r["idle"]["ack_latency_ms"], r["flooded"]["ack_latency_ms"]
        print(
            f"{r['database']}: webhook ack p99 idle {idle['p99']} ms, flooded {flooded['p99']} ms "
            f"(x{r['flooded_to_idle_p99']}); console {r['flooded']['console_answers']}, "
            f"compliance {r['flooded']['compliance_answers']}; upload peak RSS growth "
            f"{r['uploads']['rss_growth_mb']} MB"
        )
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
