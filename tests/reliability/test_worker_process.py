"""Embedded mode's worker child: it dies with the server, and a dead child is replaced."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx2
import pytest

from tests.reliability.conftest import Probe, SmsdeskServer, Twilio, eventually, new_sid

pytestmark = pytest.mark.xdist_group("reliability")


def children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command name may hold spaces: the parent pid is the 2nd field after ")".
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def workers_ready(server: SmsdeskServer) -> bool:
    return bool(httpx2.get(server.url("/healthz"), timeout=5).json()["workers"] == "ready")


def worker_pid(server: SmsdeskServer) -> int:
    assert server.process is not None
    eventually(lambda: workers_ready(server), seconds=60, what="workers ready")
    # The spawn start method also runs a resource tracker: the worker is the one that is not it.
    pids = [
        pid
        for pid in children(server.process.pid)
        if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert len(pids) == 1, pids
    return pids[0]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"


def test_a_killed_worker_child_is_replaced_and_texts_still_processed(
    server: SmsdeskServer, twilio: Twilio, probe: Probe
) -> None:
    first = worker_pid(server)
    os.kill(first, signal.SIGKILL)
    sid = new_sid()
    assert (
        twilio.post(twilio.form(sid, "+14155550171", "What time do you open?")).status_code == 200
    )
    eventually(lambda: probe.processed(sid), seconds=60, what="the text processed by a new child")
    assert worker_pid(server) != first


def test_the_worker_child_dies_with_a_killed_server(server: SmsdeskServer) -> None:
    child = worker_pid(server)
    server.kill()
    eventually(lambda: not alive(child), seconds=10, what="the orphaned worker gone")
