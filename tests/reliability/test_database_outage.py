"""The database goes away under a real server: webhooks answer 503, and nothing is lost after.

SQLite: the app's write path loses its tables (`messages` and `jobs` renamed away, as an
operator's botched restore would), because a lock would only surface after the app's fixed 30 s
busy timeout. PostgreSQL: the database stops accepting connections (ALLOW_CONNECTIONS false,
which binds superusers too) and every backend is terminated.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx2
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from app.storage.tables import Message, OutboxEntry
from tests.reliability.conftest import Probe, SmsdeskServer, Twilio, eventually, new_sid

pytestmark = pytest.mark.xdist_group("reliability")
_AWAY = ("messages", "jobs")
# Longer than the workers' idle poll (0.5 s): an outage they do not notice would prove nothing.
OUTAGE_SECONDS = 1.5


@contextlib.contextmanager
def database_down(server: SmsdeskServer, probe: Probe, admin_url: str | None) -> Iterator[None]:
    """The server's database is unusable inside the block, and fine again after it."""
    if probe.dialect == "sqlite":
        with probe.writer.connect() as connection:
            for table in _AWAY:
                connection.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {table}_away")
            connection.commit()
        try:
            yield
        finally:
            with probe.writer.connect() as connection:
                for table in _AWAY:
                    connection.exec_driver_sql(f"ALTER TABLE {table}_away RENAME TO {table}")
                connection.commit()
        return
    assert admin_url is not None
    name = make_url(server.database_url).database
    probe.close()  # our own connections would be terminated too
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
        try:
            yield
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    finally:
        admin.dispose()


def _admin_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    return str(request.getfixturevalue("pg_admin_url")) if backend == "postgres" else None


def _outage(
    server: SmsdeskServer, twilio: Twilio, probe: Probe, admin_url: str | None
) -> list[str]:
    """One text acknowledged before the outage, two refused with 503 during it and re-delivered
    after it (the first one too, as a retry); returns the three SIDs."""
    before = twilio.form(new_sid(), "+14155550161", "What time do you open?")
    during = [
        twilio.form(new_sid(), "+14155550162", "STOP"),
        twilio.form(new_sid(), "+14155550163", "Do you deliver on Sundays?"),
    ]
    assert twilio.post(before).status_code == 200
    with database_down(server, probe, admin_url):
        ends = time.monotonic() + OUTAGE_SECONDS
        for form in during:
            response = twilio.post(form)
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "database_unavailable"
        if probe.dialect == "postgresql":
            health = httpx2.get(server.url("/healthz"), timeout=15.0)
            assert (health.status_code, health.json()["database"]) == (503, "unavailable")
        time.sleep(max(0.0, ends - time.monotonic()))
    for form in [*during, before]:  # Twilio re-delivers what was not acknowledged
        assert twilio.deliver_until_acknowledged(form) == 1
    return [form["MessageSid"] for form in [before, *during]]


def test_outage_answers_503_and_each_redelivered_text_is_stored_once(
    server: SmsdeskServer,
    twilio: Twilio,
    probe: Probe,
    backend: str,
    request: pytest.FixtureRequest,
) -> None:
    sids = _outage(server, twilio, probe, _admin_url(backend, request))
    for sid in sids:
        assert len(probe.inbound(sid)) == 1, sid
    assert probe.scalar("SELECT count(*) FROM messages WHERE direction = 'inbound'") == 3


def test_processing_resumes_after_the_outage_and_runs_each_text_once(
    server: SmsdeskServer,
    twilio: Twilio,
    probe: Probe,
    backend: str,
    request: pytest.FixtureRequest,
) -> None:
    sids = _outage(server, twilio, probe, _admin_url(backend, request))
    eventually(
        lambda: all(probe.processed(sid) for sid in sids),
        seconds=30,  # a loaded machine may stack the worker's pause, a retry and the orphan check
        what="every acknowledged text processed after the outage",
    )
    probe.wait_idle()
    for sid in sids:
        (message,) = probe.inbound(sid)
        steps = [step.status for step in probe.steps(message.id)]
        assert steps == ["received", "processed"], sid
    # Three texts, the STOP's confirmation, and the two questions' hand-off acknowledgements
    # (the bot is off): each sent once.
    assert probe.job_states() == {"done": 6}
    with probe.session() as session:
        sent = session.exec(
            select(OutboxEntry.to_number, Message.purpose).join(
                Message, col(Message.idempotency_key) == col(OutboxEntry.idempotency_key)
            )
        ).all()
    assert sorted((phone, str(purpose)) for phone, purpose in sent) == [
        ("+14155550161", "handoff_ack"),
        ("+14155550162", "opt_out_confirmation"),
        ("+14155550163", "handoff_ack"),
    ]
