"""Starting a flow for one customer: checks, the run row and its first text, in the caller's
transaction (so a bulk send, the API and the console all start flows the same way).

A refusal is a value, never an exception and never a text: unknown flow, missing variable, a
number that is not E.164, an opted-out number, a marketing flow without marketing consent. The
first text still meets the send-time gate (quiet hours, caps, consent again) when it goes.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from app import log
from app.compliance.ledger import ConsentLedger, fold
from app.compliance.parsing import parse_e164
from app.config import Settings
from app.errors import InvalidInput
from app.flows.loader import FlowCatalogue, load_flows
from app.flows.schema import Flow, Node
from app.flows.slots import SlotSource, describe_slot, no_slots
from app.outbound.send import queue_outbound
from app.storage.messages import get_or_create_conversation, now
from app.storage.tables import Conversation, FlowRun, Message

RefusalCode = Literal[
    "unknown_flow", "missing_variable", "bad_phone", "opted_out", "no_marketing_consent"
]
OPT_OUT_INSTRUCTION = "Reply STOP to opt out."
FLOW_PURPOSE = "flow"
_logger = log.get_logger("flows")


@dataclass(frozen=True)
class FlowStart:
    """A request to start one flow for one customer."""

    flow: str
    brand: str
    phone: str
    """E.164 (`+12125550123`); anything else is refused as `bad_phone`."""
    variables: Mapping[str, str]
    source: str
    """api | cli | console | bulk | survey."""
    idempotency_key: str
    """The same key twice starts one run (the second call returns the first run)."""
    campaign_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Refusal:
    """Why a flow was not started (nothing was sent)."""

    code: RefusalCode
    detail: str


@dataclass(frozen=True)
class FlowStarted:
    """A started run and its queued first text, or the refusal."""

    run_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    refusal: Refusal | None = None
    duplicate: bool = False
    """The idempotency key had already started this run: nothing new was queued."""

    @property
    def ok(self) -> bool:
        """Whether a run exists for the request."""
        return self.refusal is None


@dataclass
class Flows:
    """A deployment's flows and what running them needs (built once, from settings)."""

    catalogue: FlowCatalogue
    brand_name: str
    provider: str
    reply_window: timedelta = timedelta(hours=48)
    webhook_url: str | None = None
    slots: SlotSource = field(default=no_slots)
    """Where `offer: {source: free_slots}` items come from (`slots.from_context`)."""
    zone: tzinfo = UTC
    """The business's time zone: offered times are written in it."""

    @classmethod
    def from_settings(cls, settings: Settings, *, provider: str) -> Flows:
        """The flows of `settings.flows_dir` (raises `InvalidFlowFile` on a bad file)."""
        return cls(
            catalogue=load_flows(settings.flows_dir),
            brand_name=settings.brand_name,
            provider=provider,
            reply_window=timedelta(hours=settings.flow_reply_window_hours),
            webhook_url=settings.flow_webhook_url,
            zone=ZoneInfo(settings.business_timezone),
        )

    def render(self, template: str, run: FlowRun, **extra: str) -> str:
        """A template with the run's variables, the brand's name and `extra` filled in."""
        values = {str(k): str(v) for k, v in run.variables.items() if isinstance(v, str)}
        values |= {"brand": self.brand_name} | extra
        return " ".join(template.format_map(_Blank(values)).split())

    def ask(self, run: FlowRun, flow: Flow, node_name: str, template: str | None) -> str | None:
        """Move `run` to the question `node_name` and return its text (offers filled in).

        A question whose offer finds nothing is not asked: None, and the caller runs the
        offer's `when_empty` choice instead.
        """
        node = flow.nodes[node_name]
        text = template or node.text
        extra: dict[str, str] = {}
        if node.offer is not None:
            found = list(self.slots(run.brand, now(), node.offer.count))[: node.offer.count]
            if not found:
                return None
            offered = [describe_slot(s, self.zone) for s in found]
            run.variables = {**run.variables, "_offered": offered}
            extra["slots"] = ", ".join(f"{i} {s}" for i, s in enumerate(offered, start=1))
        run.node, run.unrecognised = node_name, 0
        run.expires_at = now() + flow.window(self.reply_window)
        return self.render(text, run, **extra) if text else None


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def offered(run: FlowRun) -> list[str]:
    """The items the run's current question offered (numbered from 1)."""
    items = run.variables.get("_offered")
    return [str(i) for i in items] if isinstance(items, list) else []


def node_of(flow: Flow, run: FlowRun) -> Node | None:
    """The question the run waits on, if the flow still has it."""
    return flow.nodes.get(run.node) if run.node else None


def start_flow(session: Session, request: FlowStart, *, flows: Flows) -> FlowStarted:
    """Start `request.flow` for one customer in the caller's transaction (commit is theirs)."""
    key = request.idempotency_key
    existing = session.exec(select(FlowRun).where(FlowRun.idempotency_key == key)).first()
    if existing is not None:
        first_text = session.exec(
            select(Message.id).where(Message.idempotency_key == f"flow:{key}")
        ).first()
        return FlowStarted(existing.id, first_text, duplicate=True)
    flow = flows.catalogue.get(request.flow)
    if flow is None:
        return _refuse("unknown_flow", f"no flow called {request.flow!r}")
    try:
        phone = parse_e164(request.phone)
    except InvalidInput as exc:
        return _refuse("bad_phone", str(exc))
    missing = [v for v in flow.variables if not str(request.variables.get(v, "")).strip()]
    if missing:
        return _refuse("missing_variable", f"{flow.name} needs {', '.join(missing)}")
    consent = fold(ConsentLedger.events(session, brand=request.brand, phone=phone))
    if consent.state.blocks(flow.category):
        return _refuse("opted_out", f"{phone} opted out ({consent.state.scope})")
    if flow.category == "marketing" and not consent.marketing_consent:
        return _refuse("no_marketing_consent", f"{phone} gave no consent to marketing texts")
    conversation = get_or_create_conversation(session, brand=request.brand, phone=phone)
    end_runs(session, conversation_id=conversation.id, status="cancelled")
    run = FlowRun(
        brand=request.brand,
        phone_e164=phone,
        conversation_id=conversation.id,
        flow=flow.name,
        variables={k: str(v) for k, v in request.variables.items()},
        source=request.source,
        idempotency_key=key,
        campaign_id=request.campaign_id,
        started_at=now(),
    )
    text = flows.ask(run, flow, flow.start, flow.text)
    assert text is not None, "a start question with an offer needs a text that names it"
    body = _first_words(text, flows.brand_name, conversation, flow)
    session.add(run)
    message = queue_outbound(
        session,
        conversation=conversation,
        body=body,
        category=flow.category,
        purpose=FLOW_PURPOSE,
        idempotency_key=f"flow:{key}",
        provider=flows.provider,
        campaign_id=request.campaign_id,  # paced per campaign at send time
    )
    _logger.info("flows.started", flow=flow.name, source=request.source)
    return FlowStarted(run.id, message.id)


def end_runs(
    session: Session,
    *,
    conversation_id: uuid.UUID,
    status: str,
    only: Collection[str] | None = None,
) -> int:
    """End the conversation's active runs with `status` (a new run, an opt-out); how many.

    `only`: just the runs of these flows (a marketing-only opt-out ends marketing flows)."""
    runs = session.exec(
        select(FlowRun).where(
            FlowRun.conversation_id == conversation_id, col(FlowRun.status) == "active"
        )
    ).all()
    ended = 0
    for run in runs:
        if only is not None and run.flow not in only:
            continue
        finish(session, run, status)
        ended += 1
    return ended


def finish(session: Session, run: FlowRun, status: str, outcome: str | None = None) -> None:
    """Close a run: no question waits any more."""
    run.status, run.node, run.finished_at = status, None, now()
    if outcome is not None:
        run.outcome = outcome
    session.add(run)


def _first_words(text: str, brand: str, conversation: Conversation, flow: Flow) -> str:
    # MSG-2: a customer's first text from us, and every marketing text, names the brand and
    # says how to opt out. The flow files name the brand already; this makes sure of both.
    first = conversation.last_outbound_at is None
    if not (first or flow.category == "marketing"):
        return text
    named = text if brand.casefold() in text.casefold() else f"{brand}: {text}"
    return named if "reply stop" in named.casefold() else f"{named} {OPT_OUT_INSTRUCTION}"


def _refuse(code: RefusalCode, detail: str) -> FlowStarted:
    _logger.info("flows.refused", code=code)
    return FlowStarted(refusal=Refusal(code, detail))


def active_run(session: Session, *, conversation_id: uuid.UUID) -> FlowRun | None:
    """The conversation's active run, if any."""
    return session.exec(
        select(FlowRun)
        .where(FlowRun.conversation_id == conversation_id, col(FlowRun.status) == "active")
        .order_by(col(FlowRun.started_at).desc())
    ).first()
