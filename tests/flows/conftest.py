"""Flows through the real pipeline: ingress, jobs, compliance, the flow step, the outbound gate
and the console provider, on a real database, with the clock held still."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app import clock
from app.channels.base import InboundSms
from app.config import Settings
from app.flows import FlowStart, FlowStarted, start_flow
from app.pipeline.decision import Answer, Decided, Reply
from app.pipeline.ingress import accept_inbound
from app.pipeline.responder import ResponderRequest
from app.runtime import Runtime, build_runtime
from app.storage.tables import FlowRun, HandoffItem, OutboxEntry

REPO = Path(__file__).resolve().parents[2]
FLOWS = REPO / "flows"
PHONE = "+12125550123"
TUESDAY_11AM = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # New York: business hours
_ids = itertools.count(1)


class EchoResponder:
    """Answers every text the flows leave to the normal pipeline (so tests can tell)."""

    def respond(self, request: ResponderRequest) -> Decided:
        text = f"echo: {request.body}"
        return Decided(Reply((Answer("echo", text),)), {"entries": ["echo"], "draft": text})


@pytest.fixture(autouse=True)
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(TUESDAY_11AM) as stopped:
        yield stopped


@pytest.fixture
def flow_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"flows_dir": FLOWS})


@pytest.fixture
def runtime(engine: Engine, flow_settings: Settings) -> Iterator[Runtime]:
    built = build_runtime(flow_settings, engine=engine, responder=EchoResponder())
    yield built


@dataclass
class Customer:
    """One customer's phone, as the tests drive it."""

    runtime: Runtime
    phone: str = PHONE

    def start(self, flow: str, key: str = "k1", **variables: str) -> FlowStarted:
        assert self.runtime.flows is not None
        with Session(self.runtime.engine, expire_on_commit=False) as session:
            started = start_flow(
                session,
                FlowStart(flow, "default", self.phone, variables, "api", key),
                flows=self.runtime.flows,
            )
            session.commit()
        self.runtime.jobs.drain()
        return started

    def text(self, body: str) -> list[str]:
        """Send `body`; what the customer received in return."""
        before = len(self.outbox())
        sms = InboundSms(
            provider="twilio",
            provider_message_id=f"SM{next(_ids):032d}",
            from_number=self.phone,
            to_number="+18005550199",
            body=body,
            received_at=clock.now(),
        )
        accept_inbound(self.runtime.engine, sms, brand="default")
        self.runtime.jobs.drain()
        return self.outbox()[before:]

    def outbox(self) -> list[str]:
        with Session(self.runtime.engine) as session:
            rows = session.exec(
                select(OutboxEntry)
                .where(OutboxEntry.to_number == self.phone)
                .order_by(col(OutboxEntry.id))
            )
            return [e.body for e in rows]

    def run(self, flow: str | None = None) -> FlowRun:
        """The customer's latest run (of `flow`): the clock stands still, so by flow name."""
        with Session(self.runtime.engine) as session:
            query = select(FlowRun).where(FlowRun.phone_e164 == self.phone)
            if flow is not None:
                query = query.where(FlowRun.flow == flow)
            found = session.exec(query.order_by(col(FlowRun.started_at).desc())).first()
            assert found is not None
            return found

    def queue(self) -> HandoffItem | None:
        with Session(self.runtime.engine) as session:
            return session.exec(
                select(HandoffItem).where(col(HandoffItem.status) != "resolved")
            ).first()


@pytest.fixture
def customer(runtime: Runtime) -> Customer:
    return Customer(runtime)
