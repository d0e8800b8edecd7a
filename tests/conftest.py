"""Shared fixtures: settings, a fresh SQLite database per test, and a real PostgreSQL.

PostgreSQL comes from `SMSDESK_TEST_DATABASE_URL` when set (an admin URL: tests create and
drop their own databases), else from a throw-away server this session starts on loopback with
the local `initdb`/`pg_ctl`. Without either, PostgreSQL tests skip with the reason, unless
`SMSDESK_REQUIRE_POSTGRES=1` (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from app import clock
from app.config import Settings, get_settings
from app.storage import make_engine, migrate, normalise_url

if TYPE_CHECKING:
    from app.ai.models import AiModels

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "evals" / "compliance" / "cases_public.jsonl"

# A property is not about speed: on a loaded machine Hypothesis's 200 ms deadline per example
# and its too-slow health check would fail tests by chance.
hypothesis_settings.register_profile(
    "smsdesk", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("smsdesk")


@pytest.fixture(autouse=True)
def _settings_read_afresh() -> Iterator[None]:
    """A test that sets SMSDESK_* and reads `get_settings()` leaves no cached settings (its
    temporary data directory, its database) to the next test of the same worker."""
    yield
    get_settings.cache_clear()


@pytest.fixture
def daytime() -> Iterator[None]:
    """The clock moved to tomorrow afternoon (US), still running: business-initiated texts
    would otherwise wait out the recipients' quiet hours when the suite runs at night."""
    with clock.running_from(clock.next_daytime()):
        yield


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings with the data directory in a temporary folder."""
    return Settings(data_dir=tmp_path / "data", env="test", bot="off")


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database file (WAL) of its own."""
    engine = make_engine(f"sqlite:///{tmp_path / 'smsdesk.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def _pg_binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _ThrowawayPostgres:
    """A PostgreSQL server in a temporary directory, on a free loopback port."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="smsdesk-pg-"))
        self.port = _free_port()
        # initdb refuses to run as root; the Debian package provides a `postgres` user.
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.prefix:
            shutil.chown(self.root, "postgres")
        self.data = self.root / "data"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "-A", "trust", "--no-sync", "-E", "UTF8")  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-w",
                  "-l", str(self.root / "log"), "start")  # fmt: skip
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run(
            [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
             "stop"], capture_output=True, timeout=60, check=False
        )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


def _unavailable(reason: str) -> None:
    if os.environ.get("SMSDESK_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL required (SMSDESK_REQUIRE_POSTGRES=1) but {reason}")
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """An admin URL of a PostgreSQL server for this test session."""
    url = os.environ.get("SMSDESK_TEST_DATABASE_URL")
    if url:
        yield normalise_url(url)
        return
    bindir = _pg_binaries()
    if bindir is None:
        _unavailable("no SMSDESK_TEST_DATABASE_URL and no initdb/pg_ctl on this machine")
    server = _ThrowawayPostgres(bindir)  # type: ignore[arg-type]
    try:
        url = server.start()
    except (subprocess.SubprocessError, OSError) as exc:
        server.stop()
        _unavailable(f"could not start a throw-away server: {exc}")
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> Iterator[str]:
    """A migrated template database; each test clones it, which is much faster than migrating."""
    name = f"smsdesk_tpl_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(pg_admin_url).set(database=name).render_as_string(False))
    migrate(engine)
    engine.dispose()
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_engine(pg_admin_url: str, pg_template: str) -> Iterator[Engine]:
    """A fresh, migrated PostgreSQL database of its own."""
    name = f"smsdesk_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    engine = make_engine(make_url(pg_admin_url).set(database=name).render_as_string(False))
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The same test on a real SQLite file and on a real PostgreSQL database."""
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    value: Engine = request.getfixturevalue(name)
    return value


@pytest.fixture(scope="session")
def ai_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the trained intent model and the knowledge index."""
    return tmp_path_factory.mktemp("ai-data")


@pytest.fixture(scope="session")
def ai_models(ai_data_dir: Path) -> AiModels:
    """Encoder, heads, knowledge and index, trained and synced for real (once)."""
    from app.ai.models import AiModels

    settings = Settings(env="test", data_dir=ai_data_dir, knowledge_dir=REPO / "knowledge")
    return AiModels.load(settings)
