"""Scale-out retrieval: the index on a real Chroma server (`chroma run`) on loopback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.ai.index import KnowledgeIndex, make_client
from app.ai.knowledge import load_knowledge
from app.config import Settings
from tests.ai.test_index import small_kb

CHROMA = Path(sys.executable).with_name("chroma")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def chroma_port(tmp_path: Path) -> Iterator[int]:
    if not CHROMA.exists() and shutil.which("chroma") is None:
        pytest.skip("the chroma server command is not installed")
    port = free_port()
    server = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        settings = Settings(env="test", chroma_host="127.0.0.1", chroma_port=port)
        deadline = time.monotonic() + 30
        while True:
            try:
                make_client(settings).heartbeat()
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield port
    finally:
        _close_http_clients()
        server.terminate()
        server.wait(timeout=10)


def _close_http_clients() -> None:
    # chromadb keeps every HttpClient's connection pool in a process-wide cache and offers no
    # way to close one: without this its sockets outlive the server, unclosed at exit.
    from chromadb.api.fastapi import FastAPI
    from chromadb.api.shared_system_client import SharedSystemClient

    systems = SharedSystemClient._identifier_to_system
    for identifier, system in list(systems.items()):
        if system.settings.chroma_api_impl == "chromadb.api.fastapi.FastAPI":
            system.instance(FastAPI)._session.close()
            del systems[identifier]


def test_replicas_share_the_index_on_a_chroma_server(tmp_path: Path, chroma_port: int) -> None:
    kb_dir = small_kb(tmp_path / "knowledge")
    kb = load_knowledge(kb_dir)

    def replica(name: str) -> KnowledgeIndex:
        return KnowledgeIndex(
            Settings(
                env="test",
                data_dir=tmp_path / name,
                knowledge_dir=kb_dir,
                chroma_host="127.0.0.1",
                chroma_port=chroma_port,
            )
        )

    first = replica("a").sync(kb)
    assert len(first.added) == len(kb.entries)
    second = replica("b")
    # Another replica finds the index already there: nothing to embed again.
    assert second.sync(kb).changed is False
    (hit, *_) = second.search("what time do you close on sundays")
    assert hit.entry_id == "store-hours"
    assert not (tmp_path / "a" / "chroma").exists()  # nothing was written locally
