"""Bulk-send fixtures: a stand-in for the flows package at its contract (`FlowStarter`).

The stand-in does what `app.flows.start_flow` promises: it refuses an opted-out number and a
marketing flow without marketing consent (read in the caller's transaction), and otherwise
queues the flow's first text through `queue_outbound` with the start's idempotency key, so the
real send-time gate, pacing and provider path run behind it.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from app.campaigns.contract import (
    FlowInfo,
    Flows,
    FlowStart,
    StartAccepted,
    StartOutcome,
    StartRefused,
)
from app.campaigns.service import RUN_CAMPAIGN
from app.channels.base import OutboundSms, SendResult
from app.compliance.ledger import ConsentLedger
from app.config import Settings
from app.jobs.inprocess import InProcessEngine
from app.outbound.send import queue_outbound
from app.runtime import Runtime, build_runtime
from app.storage.messages import get_or_create_conversation

PICKUP = FlowInfo("order_pickup", "transactional", ("name", "store"))
LEADS = FlowInfo("lead_qualification", "marketing", ("name",))
TEXTS = {
    "order_pickup": "Acme: Hi {name}, your order is ready at {store}. Reply 1 on my way, 2 someone "
    "else, 3 a person. Reply STOP to opt out.",
    "lead_qualification": "Acme: Hi {name}, what are you riding? Reply 1 road, 2 mountain, "
    "3 e-bike, 4 kids. Reply STOP to opt out.",
}


@dataclass
class StandInFlows:
    """`start_flow` and the flow catalogue as the shared contract describes them."""

    engine: Engine
    starts: list[str] = field(default_factory=list)

    def catalog(self, name: str) -> FlowInfo | None:
        return {flow.name: flow for flow in (PICKUP, LEADS)}.get(name)

    def start(self, session: Session, request: FlowStart) -> StartOutcome:
        info = self.catalog(request.flow)
        if info is None:
            return StartRefused("unknown_flow")
        consent = ConsentLedger(self.engine).consent(
            session, brand=request.brand, phone=request.phone
        )
        if consent.state.blocks(info.category):
            return StartRefused("opted_out")
        if info.category == "marketing" and not consent.marketing_consent:
            return StartRefused("no_marketing_consent")
        conversation = get_or_create_conversation(session, brand=request.brand, phone=request.phone)
        message = queue_outbound(
            session,
            conversation=conversation,
            body=TEXTS[info.name].format(**request.variables),
            category=info.category,
            purpose="flow",
            idempotency_key=request.idempotency_key,
            provider="console",
            campaign_id=request.campaign_id,
        )
        self.starts.append(request.phone)
        return StartAccepted(run_id=uuid.uuid4(), message_id=message.id)

    def flows(self) -> Flows:
        return Flows(catalog=self.catalog, starter=self.start)


def connect(runtime: Runtime, flows: Flows) -> None:
    """Put stand-in flows behind a runtime built by `create_app`."""
    runtime.campaign_flows = flows
    assert isinstance(runtime.jobs, InProcessEngine)
    runtime.jobs.handlers[RUN_CAMPAIGN].starter = flows.starter  # type: ignore[attr-defined]


class RecordingSender:
    """The provider edge: records every hand-off (no provider-side de-duplication, so a text
    handed over twice would show twice)."""

    name = "console"

    def __init__(self) -> None:
        self.sent: list[OutboundSms] = []
        self._lock = threading.Lock()

    def send(self, sms: OutboundSms) -> SendResult:
        with self._lock:
            self.sent.append(sms)
            return SendResult(f"SM{len(self.sent):032d}")

    def per_phone(self) -> dict[str, int]:
        return dict(Counter(sms.to_number for sms in self.sent))


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def stand_in(engine: Engine) -> StandInFlows:
    return StandInFlows(engine)


@pytest.fixture
def runtime(
    engine: Engine, settings: Settings, stand_in: StandInFlows, sender: RecordingSender
) -> Iterator[Runtime]:
    built = build_runtime(settings, engine=engine, campaign_flows=stand_in.flows(), sender=sender)
    yield built


def drain(runtime: Runtime) -> int:
    assert isinstance(runtime.jobs, InProcessEngine)
    return runtime.jobs.drain()


def csv_of(rows: list[tuple[str, ...]], header: str = "phone,name,store") -> str:
    return "\n".join([header, *(",".join(row) for row in rows)]) + "\n"
