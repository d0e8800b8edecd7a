"""Bulk-send throughput against the configured limit, on the embedded defaults.

For each level (a per-number and a per-campaign limit, `limits` notation), a fresh SQLite
database gets a campaign of N recipients (N = rate x `--seconds`), and the embedded job engine
(its default worker count, on an asyncio loop, as `smsdesk serve` runs it) processes it:
batches of recipients, each first text through the send-time gate and the pacer, to the
console provider. The provider's records (their hand-off instants) give the achieved rate:
texts after the first / time from the first hand-off to the last, and its ratio to the binding
limit (the smaller of the two); the busiest one-second window shows the limit is never
exceeded. The run also checks that every recipient got exactly one text.

The flow started is `--flow` (a shipped flow, `order_pickup` by default) through the real
flows engine, as a user's bulk send runs it: the run, its first text, the gate, the pacer.

    python bench/bulk_send.py [--levels 1/second:1/second,1000/second:10/second,...]
                              [--seconds 10] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from limits import parse
from sqlmodel import Session, col, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app import clock  # noqa: E402
from app.campaigns.contract import FlowInfo, Flows, default_flows  # noqa: E402
from app.campaigns.recipients import read_csv  # noqa: E402
from app.campaigns.service import campaign_progress, create_campaign  # noqa: E402
from app.config import Settings  # noqa: E402
from app.jobs.inprocess import InProcessEngine  # noqa: E402
from app.runtime import build_runtime  # noqa: E402
from app.storage.tables import OutboxEntry  # noqa: E402

AREA_CODES = ("212", "312", "415", "617", "206", "303", "512", "404")
DEFAULT_LEVELS = "1/second:1/second,1000/second:10/second,1000/second:30/second,75/second:75/second"


def flows_for(name: str, settings: Settings) -> tuple[Flows, FlowInfo]:
    flows = default_flows(settings)
    info = flows.catalog(name)
    if info is None:
        raise SystemExit(f"no flow named {name!r} in {settings.flows_dir}")
    return flows, info


def recipients_csv(count: int, info: FlowInfo) -> str:
    lines = ["phone," + ",".join(info.variables)]
    for n in range(count):
        # Distinct valid US numbers, spread over area codes (several states and time zones).
        area = AREA_CODES[n % len(AREA_CODES)]
        phone = f"+1{area}555{1000 + n // len(AREA_CODES):04d}"
        lines.append(",".join([phone, *(f"Customer{n}" for _ in info.variables)]))
    return "\n".join(lines) + "\n"


async def run_level(
    per_number: str, per_campaign: str, seconds: float, flow: str, workers: int | None
) -> dict[str, Any]:
    limit = min(parse(per_number).amount / parse(per_number).get_expiry(),
                parse(per_campaign).amount / parse(per_campaign).get_expiry())  # fmt: skip
    count = max(5, round(limit * seconds))
    folder = Path(tempfile.mkdtemp(prefix="smsdesk-bulk-bench-"))
    try:
        update: dict[str, Any] = {}
        if workers:
            update["workers"] = workers
        settings = Settings(
            env="test",
            bot="off",
            data_dir=folder,
            flows_dir=REPO / "flows",
            send_rate_per_number=per_number,
            send_rate_per_campaign=per_campaign,
            **update,
        )
        flows, info = flows_for(flow, settings)
        runtime = build_runtime(settings, campaign_flows=flows)
        assert isinstance(runtime.jobs, InProcessEngine)
        recipients = read_csv(recipients_csv(count, info), info)
        assert not recipients.problems, recipients.problems[:3]
        stop = asyncio.Event()
        engine_task = asyncio.create_task(runtime.jobs.run(stop))
        started = time.perf_counter()
        campaign = create_campaign(
            runtime.engine, flow=info, recipients=recipients, brand="default", name="bench",
            source="cli",
        )  # fmt: skip
        runtime.jobs.notify()
        deadline = started + seconds * 4 + 60
        while time.perf_counter() < deadline:
            with Session(runtime.engine) as session:
                sent = len(session.exec(select(OutboxEntry.id)).all())
            if sent >= count:
                break
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        stop.set()
        await engine_task
        with Session(runtime.engine) as session:
            entries = session.exec(select(OutboxEntry).order_by(col(OutboxEntry.id))).all()
        progress = campaign_progress(runtime.engine, campaign.id)
        runtime.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    instants = sorted(entry.created_at for entry in entries)
    per_phone = Counter(entry.to_number for entry in entries)
    span = (instants[-1] - instants[0]).total_seconds() if len(instants) > 1 else 0.0
    achieved = (len(instants) - 1) / span if span > 0 else None
    busiest = _busiest_second(instants)
    assert progress is not None
    return {
        "per_number": per_number,
        "per_campaign": per_campaign,
        "limit_per_s": limit,
        "recipients": count,
        "texts_sent": len(instants),
        "duplicates": sum(n - 1 for n in per_phone.values() if n > 1),
        "missing": count - len(per_phone),
        "campaign_states": progress.states,
        "achieved_per_s": round(achieved, 2) if achieved else None,
        "ratio_to_limit": round(achieved / limit, 3) if achieved else None,
        "busiest_1s_window": busiest,
        "send_span_s": round(span, 2),
        "wall_s": round(elapsed, 2),
    }


def _busiest_second(instants: list[datetime]) -> int:
    best, start = 0, 0
    for end, at in enumerate(instants):
        while (at - instants[start]).total_seconds() >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default=DEFAULT_LEVELS,
                        help="per_number:per_campaign pairs, comma-separated")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=10.0, help="sending time per level")
    parser.add_argument("--flow", default="order_pickup")
    parser.add_argument("--workers", type=int, default=None, help="SMSDESK_WORKERS (default: app)")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "bulk_send.json")
    args = parser.parse_args()
    results = []
    for level in args.levels.split(","):
        per_number, _, per_campaign = level.strip().partition(":")
        print(f"per number {per_number}, per campaign {per_campaign} ...", flush=True)
        # Business-initiated texts wait out the recipients' quiet hours: the run meets
        # daytime whenever it is started (the clock moved, still running at its real pace).
        with clock.running_from(clock.next_daytime()):
            result = asyncio.run(
                run_level(
                    per_number, per_campaign or per_number, args.seconds, args.flow, args.workers
                )
            )
        print(
            f"  {result['texts_sent']} texts, {result['achieved_per_s']}/s "
            f"(limit {result['limit_per_s']:g}/s, ratio {result['ratio_to_limit']}), busiest "
            f"second {result['busiest_1s_window']}, duplicates {result['duplicates']}",
            flush=True,
        )
        results.append(result)
    report = {
        "suite": "bulk_send",
        "machine": {
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        },
        "config": {
            "database": "sqlite",
            "execution_mode": "inprocess",
            "provider": "console",
            "workers": args.workers or "default",
            "seconds": args.seconds,
            "flow": args.flow,
            "rate_storage": "memory://",
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
