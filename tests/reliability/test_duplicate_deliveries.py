"""The same webhook delivered 5 times at once to a real server: stored, processed, answered once."""

from __future__ import annotations

import asyncio
import time

import httpx2
import pytest
from sqlmodel import col, func, select

from app.storage.tables import ComplianceDecision, ConsentEvent, Job, Message, OutboxEntry
from tests.reliability.conftest import Probe, Twilio, new_sid

pytestmark = pytest.mark.xdist_group("reliability")
PHONE = "+14155550142"


async def _deliver_at_once(twilio: Twilio, form: dict[str, str], copies: int) -> list[int | str]:
    # One connection per copy, all opened first, so the copies really race in the server.
    limits = httpx2.Limits(max_connections=copies, max_keepalive_connections=copies)
    async with httpx2.AsyncClient(timeout=15.0, limits=limits) as client:
        return list(await asyncio.gather(*(twilio.apost(client, form) for _ in range(copies))))


def test_five_concurrent_deliveries_store_process_and_confirm_once(
    twilio: Twilio, probe: Probe
) -> None:
    sid = new_sid()
    form = twilio.form(sid, PHONE, "STOP")

    codes = asyncio.run(_deliver_at_once(twilio, form, 5))

    assert codes == [200] * 5  # every copy is acknowledged: a retry is not an error
    probe.wait_idle()
    time.sleep(0.5)  # a duplicate job, had one been queued, would have run by now
    probe.wait_idle()
    stored = probe.inbound(sid)
    assert len(stored) == 1
    message = stored[0]
    steps = [step.status for step in probe.steps(message.id)]
    assert steps == ["received", "processed"]
    with probe.session() as session:
        jobs = session.exec(select(Job).where(Job.dedupe_key == f"in:{message.id}")).all()
        assert [(job.kind, job.state, job.attempts) for job in jobs] == [
            ("process_inbound", "done", 1)
        ]
        decisions = session.exec(
            select(func.count()).where(ComplianceDecision.provider_message_id == f"twilio:{sid}")
        ).one()
        assert decisions == 1
        opt_outs = session.exec(
            select(ConsentEvent).where(
                ConsentEvent.phone_e164 == PHONE, col(ConsentEvent.event_type) == "opt_out"
            )
        ).all()
        assert [event.provider_message_id for event in opt_outs] == [f"twilio:{sid}"]
        replies = session.exec(
            select(Message).where(Message.direction == "outbound", Message.status == "sent")
        ).all()
        assert [reply.idempotency_key for reply in replies] == [
            f"opt_out_confirmation:{message.id}"
        ]
        outbox = session.exec(select(OutboxEntry)).all()
        assert [(row.idempotency_key, row.to_number) for row in outbox] == [
            (f"opt_out_confirmation:{message.id}", PHONE)
        ]
