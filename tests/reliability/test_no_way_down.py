"""No way down: a real `smsdesk serve` on loopback keeps answering under oversized uploads,
floods of console requests and a write lock held by another process.

Uploads go over a raw socket so that the test sees exactly how much of a body the server
took before it answered; memory is the server process's peak resident size (VmHWM).
"""

from __future__ import annotations

import asyncio
import re
import select
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest
from sqlmodel import Session

from app.handoff.agents import create_agent
from app.storage import make_engine
from tests.reliability.conftest import (
    SMS_PATH,
    SmsdeskServer,
    Twilio,
    new_sid,
)

MB = 1024 * 1024
UPLOAD = 256 * MB
"""Four thousand times the webhook limit: held whole, it would show in the server's memory."""
CHUNK = 64 * 1024
PASSWORD = "correct horse battery"
HANG = 60.0
"""A bound on waits that should end in milliseconds: reached only when the server hangs."""


def peak_rss(pid: int) -> int:
    """The process's peak resident set size in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def chunked_upload(
    server: SmsdeskServer, path: str, *, total: int, headers: dict[str, str]
) -> tuple[int | None, int]:
    """POST `total` bytes with chunked encoding; stop sending once the server answers.

    Returns the answer's status (None if the server closed without one) and how many body
    bytes were sent before it answered.
    """
    url = urlsplit(server.base_url)
    head = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}", "Transfer-Encoding: chunked"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    chunk = b"%x\r\n" % CHUNK + b"a" * CHUNK + b"\r\n"
    sent = 0
    with socket.create_connection((url.hostname, url.port), timeout=HANG) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            while sent < total:
                answered, _, _ = select.select([sock], [], [], 0)
                if answered:
                    break
                sock.sendall(chunk)
                sent += CHUNK
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = sock.recv(4096)
        except ConnectionResetError:
            return None, sent
    return (int(answer.split()[1]) if answer.startswith(b"HTTP/1.1 ") else None), sent


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        (SMS_PATH, {"Content-Type": "application/x-www-form-urlencoded"}, 413),
        ("/api/v1/messages/inbound", {"Content-Type": "application/json"}, 401),
        (
            "/api/v1/messages/inbound",
            {"Content-Type": "application/json", "Authorization": "Bearer "},
            401,
        ),
    ],
    ids=["webhook", "api-without-key", "api-empty-key"],
)
def test_an_oversized_chunked_upload_is_refused_while_it_streams(
    server: SmsdeskServer, path: str, headers: dict[str, str], status: int
) -> None:
    assert server.process is not None
    before = peak_rss(server.process.pid)
    answer, sent = chunked_upload(server, path, total=UPLOAD, headers=headers)
    grew = peak_rss(server.process.pid) - before
    assert answer in (status, None), answer
    # Refused early: most of the upload was never sent, and none of it was held.
    assert sent < UPLOAD // 4, f"{sent / MB:.0f} MB sent before the answer"
    assert grew < 32 * MB, f"server peak memory grew {grew / MB:.0f} MB"
    # ...and the server still answers.
    assert httpx2.get(server.url("/healthz"), timeout=HANG).status_code == 200


def test_a_declared_oversized_body_is_413_before_it_is_sent(server: SmsdeskServer) -> None:
    url = urlsplit(server.base_url)
    request = (
        f"POST /api/v1/messages/inbound HTTP/1.1\r\nHost: {url.netloc}\r\n"
        "Authorization: Bearer reliability-test-key-0123456789\r\n"
        "Content-Type: application/json\r\nContent-Length: 300000000\r\n\r\n{"
    )
    with socket.create_connection((url.hostname, url.port), timeout=HANG) as sock:
        sock.sendall(request.encode())
        answer = b""
        # The head and the body may come in separate segments: read the whole answer.
        while chunk := sock.recv(4096):
            answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
            if length and len(body) >= int(length.group(1)):
                break
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:100]
    assert b'"too_large"' in answer


@pytest.fixture
def signed_in(server: SmsdeskServer) -> Iterator[httpx2.Cookies]:
    """An agent of the server's brand, signed in: the session cookie."""
    engine = make_engine(server.database_url)
    with Session(engine) as session:
        create_agent(session, email="ana@example.com", password=PASSWORD, brands=["default"])
    engine.dispose()
    response = httpx2.post(
        server.url("/console/login"),
        data={"email": "ana@example.com", "password": PASSWORD},
        timeout=HANG,
    )
    assert response.status_code == 200, response.text
    yield response.cookies


def test_sixty_concurrent_console_requests_and_a_webhook_all_complete(
    server: SmsdeskServer, twilio: Twilio, signed_in: httpx2.Cookies
) -> None:
    """The console's session check held a connection (and on SQLite the write lock) in one
    threadpool thread while its route waited for another: 40 at once froze the server."""
    paths = ["/console/api/queue", "/console/", "/console/api/me"] * 20

    async def flood() -> tuple[list[int], int | str]:
        limits = httpx2.Limits(max_connections=100)
        async with httpx2.AsyncClient(cookies=signed_in, timeout=HANG, limits=limits) as client:
            console = [client.get(server.url(path)) for path in paths]
            webhook = twilio.apost(client, twilio.form(new_sid(), "+12125550123", "STOP"))
            *answers, acknowledged = await asyncio.gather(*console, webhook)
        return [a.status_code for a in answers], acknowledged

    statuses, acknowledged = asyncio.run(flood())
    assert statuses == [200] * len(paths)
    assert acknowledged == 200


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("server_env", [{"SMSDESK_SQLITE_BUSY_TIMEOUT_SECONDS": "1"}])
def test_a_write_lock_held_by_another_process_is_a_503_not_a_hang(
    server: SmsdeskServer, twilio: Twilio
) -> None:
    database = server.database_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program holds SQLite's write lock
    try:
        form = twilio.form(new_sid(), "+12125550123", "STOP")
        answers = [twilio.post(form, timeout=HANG).status_code for _ in range(3)]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert answers == [503, 503, 503]
    # Once the lock is free the retry is stored and acknowledged.
    assert twilio.post(form, timeout=HANG).status_code == 200
