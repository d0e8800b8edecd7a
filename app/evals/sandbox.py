"""A throw-away smsdesk for evals: the real pipeline on its own database, clock and provider.

Texts go in exactly as a webhook puts them (`accept_inbound`), the jobs run to completion in
this thread (compliance, the AI layer, hand-off, the outbound gate, the console provider), and
each turn is read back from the database the console reads: what was sent to the customer,
the AI's decision record, the queue item and the consent state. Nothing is mocked; only the
clock is held still, so business hours, quiet hours and SLA clocks are the scenario's.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from app import clock
from app.channels.base import InboundSms
from app.config import Settings
from app.flows import FlowStart, start_flow
from app.handoff import claims
from app.handoff.agents import create_agent
from app.handoff.queue import unresolved_item
from app.outbound.agent import send_agent_reply
from app.pipeline.ingress import accept_inbound
from app.runtime import Runtime, build_runtime
from app.storage.tables import (
    Agent,
    AiDecision,
    ComplianceDecision,
    Conversation,
    FlowRun,
    HandoffItem,
    Message,
)

BUSINESS_NUMBER = "+18005550199"
AGENT_EMAIL = "eval-agent@smsdesk.invalid"
SAFETY_PRIORITY = 0
"""The queue's top priority (the safety reasons')."""


@dataclass(frozen=True)
class Sent:
    """One text that went (or is going) to the customer."""

    body: str
    purpose: str | None
    status: str


@dataclass(frozen=True)
class Queued:
    """The conversation's unresolved queue item, as the console shows it."""

    reasons: list[str]
    priority: int
    status: str
    team: str | None


@dataclass(frozen=True)
class FlowView:
    """The customer's latest flow run, as the console shows it."""

    flow: str
    status: str
    outcome: str | None
    node: str | None


@dataclass(frozen=True)
class TurnResult:
    """What one turn did, read back from the database."""

    message_id: uuid.UUID | None
    compliance: str | None
    """The compliance layer's action for an inbound text (`pass`, `opt_out`, `help`, ...)."""
    sent: list[Sent]
    ai_action: str | None
    """The AI's recorded action: reply, handoff, draft, opt_out, silent, clarify, close."""
    record: dict[str, Any]
    reasons: list[str]
    queue: Queued | None
    consent: str
    handed_off: bool
    """This turn put the conversation in the human queue (a new item or new reasons)."""
    agent_status: str | None = None
    """Agent turns: what became of the action (`ok`, `queued`, `blocked`, ...)."""
    flow: FlowView | None = None
    """The customer's latest flow run after the turn."""
    flow_refusal: str | None = None
    """Flow turns: why the flow was not started (None: it was)."""

    @property
    def reply(self) -> str:
        """Everything sent to the customer this turn, one text a line."""
        return "\n".join(s.body for s in self.sent)

    @property
    def entries(self) -> list[str]:
        """The knowledge entries the bot answered from this turn."""
        if self.ai_action != "reply":
            return []
        found = self.record.get("entries") or (
            [self.record["entry_id"]] if self.record.get("entry_id") else []
        )
        return [str(e) for e in found]


@dataclass
class Sandbox:
    """One throw-away deployment; `open_sandbox` builds it and removes it afterwards."""

    settings: Settings
    runtime: Runtime
    clock: clock.FrozenClock
    _agent: Agent | None = None
    _phones: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def new_phone(self) -> str:
        """A customer number nobody in this sandbox has used (555-01xx: fictional)."""
        n = next(self._phones)
        return f"+1{201 + n // 10_000:03d}555{n % 10_000:04d}"

    @contextmanager
    def demo_customers(self) -> Iterator[None]:
        """The demo customers' records on file (dated from the sandbox's clock) for the
        block, and none afterwards: other scenarios run with no customer records."""
        from app.context.demo import seed_customers
        from app.context.store import clear_customers

        brand = self.settings.brand_id
        seed_customers(
            self.runtime.engine,
            brand=brand,
            timezone=self.settings.business_timezone,
            location=self.settings.context_location,
        )
        try:
            yield
        finally:
            clear_customers(self.runtime.engine, brand=brand)

    def text(self, phone: str, body: str) -> TurnResult:
        """The customer at `phone` texts `body` now; everything it causes runs to completion."""
        sms = InboundSms(
            provider="eval",
            provider_message_id=f"EV{uuid.uuid4().hex}",
            from_number=phone,
            to_number=BUSINESS_NUMBER,
            body=body,
            received_at=self.clock.now(),
        )
        before = self._outbound_ids(phone)
        item_before = self._item(phone)
        accepted = accept_inbound(self.runtime.engine, sms, brand=self.settings.brand_id)
        self.runtime.jobs.drain()
        return self._observe(phone, before, item_before, accepted.message_id)

    def start_flow(self, phone: str, flow: str, variables: dict[str, str]) -> TurnResult:
        """The business starts `flow` for the customer now, as the API does."""
        assert self.runtime.flows is not None
        before = self._outbound_ids(phone)
        item_before = self._item(phone)
        with Session(self.runtime.engine, expire_on_commit=False) as session:
            started = start_flow(
                session,
                FlowStart(
                    flow=flow,
                    brand=self.settings.brand_id,
                    phone=phone,
                    variables=variables,
                    source="api",
                    idempotency_key=f"eval:{uuid.uuid4()}",
                ),
                flows=self.runtime.flows,
            )
            session.commit()
        self.runtime.jobs.drain()
        if started.refusal is None:
            result = self._observe(phone, before, item_before, None)
            return result
        return TurnResult(
            None, None, [], None, {}, [], None,
            self.runtime.compliance.consent(phone, brand=self.settings.brand_id).state.status,
            False, flow_refusal=started.refusal.code,
        )  # fmt: skip

    def give_marketing_consent(self, phone: str) -> None:
        """Record written consent to marketing (a signup form) for this customer."""
        ledger = self.runtime.compliance.ledger
        with ledger.session() as session:
            ledger.append(
                session, brand=self.settings.brand_id, phone_e164=phone,
                event_type="consent_captured", scope="all", channel="web",
                source="eval:signup", ruleset_version="eval",
            )  # fmt: skip
            session.commit()

    def offer_slots(self, slots: list[datetime]) -> None:
        """The free appointment slots the flows' offers find from now on."""
        assert self.runtime.flows is not None

        def free_slots(brand: str, after: datetime, limit: int) -> list[datetime]:
            return [s for s in slots if s > after][:limit]

        self.runtime.flows.slots = free_slots

    def opt_out_before(self, phone: str) -> None:
        """Record that this customer opted out before the scenario (a keyword STOP)."""
        self.text(phone, "STOP")

    def agent(
        self, phone: str, action: str, *, text: str | None = None, outcome: str | None = None
    ) -> TurnResult:
        """An agent acts on the conversation's queue item, as the console does."""
        before = self._outbound_ids(phone)
        item_before = self._item(phone)
        status = self._act(phone, action, text=text, outcome=outcome)
        self.runtime.jobs.drain()
        result = self._observe(phone, before, item_before, None)
        return TurnResult(**{**result.__dict__, "agent_status": status})

    def _act(self, phone: str, action: str, *, text: str | None, outcome: str | None) -> str:
        agent = self._eval_agent()
        # One transaction at a time: on SQLite every transaction holds the writer lock.
        with Session(self.runtime.engine, expire_on_commit=False) as session:
            conversation = self._conversation(session, phone)
            item = self._unresolved(session, conversation)
        if conversation is None or item is None:
            return "not_found"
        if action == "reply":
            assert text is not None
            sent = send_agent_reply(
                self.runtime.engine,
                self.runtime.compliance,
                conversation=conversation,
                body=text,
                key=uuid.uuid4().hex,
                provider=self.runtime.sender.name,
            )
            if sent.status in ("queued", "scheduled"):
                with Session(self.runtime.engine) as session:
                    claims.mark_first_response(session, item_id=item.id)
                    session.commit()
            return sent.status
        with Session(self.runtime.engine) as session:
            if action == "claim":
                result: str = claims.claim(session, agent=agent, item_id=item.id)
            elif action == "release":
                result = claims.release(session, agent=agent, item_id=item.id)
            else:
                result = claims.resolve(
                    session,
                    agent=agent,
                    item_id=item.id,
                    outcome=outcome,  # type: ignore[arg-type]
                )
            session.commit()
        return result

    def _eval_agent(self) -> Agent:
        if self._agent is None:
            with Session(self.runtime.engine, expire_on_commit=False) as session:
                self._agent = create_agent(
                    session,
                    email=AGENT_EMAIL,
                    password=uuid.uuid4().hex,
                    role="agent",
                    display_name="Eval Agent",
                    brands=[self.settings.brand_id],
                )
        return self._agent

    def _conversation(self, session: Session, phone: str) -> Conversation | None:
        return session.exec(
            select(Conversation).where(
                Conversation.brand == self.settings.brand_id, Conversation.phone_e164 == phone
            )
        ).first()

    @staticmethod
    def _unresolved(session: Session, conversation: Conversation | None) -> HandoffItem | None:
        if conversation is None:
            return None
        return unresolved_item(session, conversation_id=conversation.id)

    def _outbound_ids(self, phone: str) -> set[uuid.UUID]:
        with Session(self.runtime.engine) as session:
            conversation = self._conversation(session, phone)
            if conversation is None:
                return set()
            return set(
                session.exec(
                    select(Message.id).where(
                        Message.conversation_id == conversation.id, Message.direction == "outbound"
                    )
                ).all()
            )

    def _item(self, phone: str) -> tuple[uuid.UUID, tuple[str, ...]] | None:
        with Session(self.runtime.engine) as session:
            item = self._unresolved(session, self._conversation(session, phone))
            return (item.id, tuple(item.reasons)) if item else None

    def _observe(
        self,
        phone: str,
        before: set[uuid.UUID],
        item_before: tuple[uuid.UUID, tuple[str, ...]] | None,
        message_id: uuid.UUID | None,
    ) -> TurnResult:
        with Session(self.runtime.engine) as session:
            conversation = self._conversation(session, phone)
            assert conversation is not None
            messages = session.exec(
                select(Message)
                .where(Message.conversation_id == conversation.id, Message.direction == "outbound")
                .order_by(col(Message.created_at), col(Message.id))
            ).all()
            sent = [
                Sent(m.body, m.purpose, m.status)
                for m in messages
                if m.id not in before and m.status not in ("cancelled", "blocked")
            ]
            ai = compliance = None
            if message_id is not None:
                ai = session.exec(
                    select(AiDecision).where(AiDecision.message_id == message_id)
                ).first()
                message = session.get(Message, message_id)
                if message is not None:
                    compliance = self._compliance_action(session, message)
            item: HandoffItem | None = unresolved_item(session, conversation_id=conversation.id)
            queue = (
                Queued(list(item.reasons), item.priority, item.status, item.team) if item else None
            )
            run = session.exec(
                select(FlowRun)
                .where(FlowRun.conversation_id == conversation.id)
                .order_by(col(FlowRun.started_at).desc())
            ).first()
            flow = FlowView(run.flow, run.status, run.outcome, run.node) if run else None
        consent = self.runtime.compliance.consent(phone, brand=self.settings.brand_id)
        now_item = (item.id, tuple(item.reasons)) if item else None
        handed_off = now_item is not None and now_item != item_before
        return TurnResult(
            message_id=message_id,
            compliance=compliance,
            sent=sent,
            ai_action=ai.action if ai else None,
            record=dict(ai.record) if ai else {},
            reasons=list(ai.reasons) if ai else [],
            queue=queue,
            consent=consent.state.status,
            handed_off=handed_off,
            flow=flow,
        )

    @staticmethod
    def _compliance_action(session: Session, message: Message) -> str | None:
        row = session.exec(
            select(ComplianceDecision).where(
                ComplianceDecision.provider_message_id
                == f"{message.provider}:{message.provider_message_id}"
            )
        ).first()
        if row is None:
            return None
        action = row.decision.get("action")
        return action if isinstance(action, str) else None


def eval_settings(base: Settings, data_dir: Path, knowledge_dir: Path | None) -> Settings:
    """`base` with a throw-away data dir and database, the console provider and no worker
    process (jobs run in the caller's thread)."""
    return base.model_copy(
        update={
            "env": "test",
            "data_dir": data_dir,
            "database_url": f"sqlite:///{(data_dir / 'smsdesk.db').as_posix()}",
            "knowledge_dir": knowledge_dir or base.knowledge_dir,
            "sms_provider": "console",
            "execution_mode": "inprocess",
            "worker_process": False,
            "chroma_host": None,
            "bot": "ai",
            "demo": False,
        }
    )


@contextmanager
def open_sandbox(
    base: Settings, *, knowledge_dir: Path | None = None, at: datetime, models: Any = None
) -> Iterator[Sandbox]:
    """A sandbox whose clock stands at `at`; its folder is removed afterwards.

    `models` (an `AiModels`) is shared between sandboxes of one run, so the encoder, the intent
    head and the index load once.
    """
    from app.ai.responder import AiResponder

    folder = Path(tempfile.mkdtemp(prefix="smsdesk-eval-"))
    try:
        settings = eval_settings(base, folder, knowledge_dir)
        with clock.frozen(at) as frozen:
            runtime = build_runtime(settings, responder=AiResponder(settings, models))
            try:
                yield Sandbox(settings, runtime, frozen)
            finally:
                runtime.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def step(sandbox: Sandbox, after: timedelta) -> None:
    """Move the sandbox's clock forward."""
    sandbox.clock.advance(after)


def load_models(base: Settings, *, knowledge_dir: Path | None, folder: Path) -> Any:
    """The AI models for a run, trained and indexed under `folder` (an `AiModels`)."""
    from app.ai.models import AiModels

    return AiModels.load(eval_settings(base, folder, knowledge_dir))
