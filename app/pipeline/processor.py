"""Processing one inbound text: compliance first, then the responder's one decision, then
acting on it in one transaction (texts to the customer, the queue item and its
acknowledgement, the decision record).

Safe to run twice for one message (a crash between two commits re-runs the job): the compliance
decision is stored per provider message id, and every effect below is committed in one
transaction together with the message's `processed` status.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from app import log
from app.ai.safety import match_patterns
from app.compliance import classify
from app.compliance.contact_lock import contact_lock
from app.compliance.model import InboundDecision
from app.compliance.replies import Brand, reply_text
from app.compliance.second_pass import opt_out_tool
from app.compliance.service import Compliance
from app.context.model import CustomerContext
from app.flows.answers import EncoderSource, FlowStep, settle_expired
from app.flows.runs import active_run, end_runs
from app.handoff.queue import hand_off, unresolved_item
from app.handoff.routing import Routing, auto_assign
from app.handoff.sla import FirstResponseSla
from app.jobs import NotYet
from app.outbound.send import cancel_pending, queue_outbound
from app.pipeline.decision import (
    Clarify,
    Close,
    Decided,
    FlowAnswer,
    HandOff,
    Option,
    OptOut,
    Reason,
    Reply,
)
from app.pipeline.readiness import Readiness
from app.pipeline.responder import Previous, QueueState, Responder, ResponderRequest, Turn
from app.pipeline.wording import Wording
from app.signups import Signups
from app.storage.engine import reading
from app.storage.messages import (
    add_status,
    conversation_key,
    enqueue,
    now,
    recent_messages,
)
from app.storage.tables import AiDecision, Conversation, HandoffItem, Job, Message

CONFIRMATION_DEADLINE = timedelta(minutes=5)  # TIME-2 / FCC-3
CONTEXT_WINDOW = timedelta(hours=12)
"""An earlier turn older than this is not context: a new day's text starts afresh."""
OPT_OUT_INSTRUCTION = "Reply STOP to opt out."
RESPOND_INBOUND = "respond_inbound"
"""The AI half of a passed text, when the AI was still loading as its compliance half ran."""
WAITING_FOR_AI = "awaiting_ai"
"""A passed text's status while it waits for the AI (its compliance decision is committed)."""
AI_RETRY_SECONDS = 30.0
"""How long a text waiting for the AI sleeps between looks; the end of the warm-up wakes every
waiting text at once (`wake_waiting`), so this only bounds a missed wake-up. Short retries would
be a stream of writes (one per waiting conversation) competing with the STOPs for the database."""
"""Without a `Wording` (bare test setups): the English instruction."""
_logger = log.get_logger("pipeline")


@dataclass
class InboundProcessor:
    """Runs `process_inbound` jobs."""

    engine: Engine
    compliance: Compliance
    responder: Responder
    brand: Brand
    provider: str
    provider_handles_keywords: bool = False
    sla: FirstResponseSla | None = None
    wording: Wording | None = None
    """The acknowledgement and safety texts (None: a hand-off is silent, as in some tests)."""
    while_waiting: str = "answer"
    """`answer` or `silent`: the bot's way with plain questions while a hand-off waits."""
    readiness: Readiness | None = None
    """The responder's warm-up (None: always ready, e.g. bare test setups)."""
    flows: FlowStep | None = None
    """Reads a passed text as the answer to a flow's waiting question (None: no flows)."""
    flow_encoder: EncoderSource | None = None
    """The sentence encoder for free-text flow answers, when the AI layer has it loaded."""
    context: CustomerContext | None = None
    """Where the responder looks up the texting customer's own records (None: nowhere)."""
    signups: Signups | None = None
    """Double opt-in: a YES that confirms a pending signup is answered here, never by the AI."""
    routing: Routing | None = None
    """Gives a new queue item to an online agent (None: items wait to be claimed)."""

    def __call__(self, payload: dict[str, str]) -> None:
        """The `process_inbound` job handler: compliance now, the AI now or later."""
        self.process(uuid.UUID(payload["message_id"]))

    def prepare(self, payloads: Sequence[dict[str, Any]]) -> AbstractContextManager[object]:
        """Before a worker's batch of `process_inbound` jobs: the responder reads the texts it
        will be asked about together (the AI encodes them in one model call). An optimisation
        only: each job still decides alone, and gives the same outcome without it."""
        prepare = getattr(self.responder, "prepare", None)
        loading = self.readiness is not None and self.readiness.state in ("loading", "failed")
        if prepare is None or loading:
            return nullcontext()
        ids = [uuid.UUID(str(p["message_id"])) for p in payloads]
        with Session(reading(self.engine)) as session:
            bodies = session.exec(
                select(Message.body).where(
                    col(Message.id).in_(ids), col(Message.status).in_(("received", WAITING_FOR_AI))
                )
            ).all()
        # Only texts the compliance rules pass reach the AI (the rules are pure, ~70 µs).
        passed = [body for body in bodies if classify(body).action == "pass"]
        if len(passed) < 2:
            return nullcontext()
        prepared: AbstractContextManager[object] = prepare(passed)
        return prepared

    def respond_later(self, payload: dict[str, str]) -> None:
        """The `respond_inbound` job handler: the AI half of a text that waited for it."""
        if self.readiness is not None and self.readiness.state == "loading":
            readiness = self.readiness
            raise NotYet(
                "the AI is loading",
                seconds=AI_RETRY_SECONDS,
                arrived=lambda: readiness.state != "loading",
            )
        self.process(uuid.UUID(payload["message_id"]), waited=True)

    def process(self, message_id: uuid.UUID, *, waited: bool = False) -> None:
        """Decide on one inbound text and commit everything that follows from it.

        Compliance runs first and needs nothing from the AI (issue 13): while the models load,
        a passed text's AI half is moved to its conversation's `respond_inbound` queue (same
        order, behind any text already waiting there), so the STOP behind it is honoured now.
        """
        # Everything the decision reads comes from one read-only snapshot (outside SQLite's
        # writers' queue): seven write transactions a text were a third of its cost (issue 15).
        with Session(reading(self.engine), expire_on_commit=False) as session:
            message = session.get(Message, message_id)
            if message is None or message.status == "processed":
                return
            if message.status == WAITING_FOR_AI and not waited:
                return  # a re-run of the job that already handed it to the AI's queue
            conversation = session.get(Conversation, message.conversation_id)
            assert conversation is not None
            # The pure rules (~70 µs) foretell a pass: its look is read in this snapshot.
            look = (
                _look(session, message, conversation, flows=self.flows is not None)
                if classify(message.body).action == "pass"
                else None
            )
        decision = self.compliance.process_inbound(
            phone=conversation.phone_e164,
            body=message.body,
            received_at=message.created_at,
            provider_message_id=f"{message.provider}:{message.provider_message_id}",
            brand=conversation.brand,
        )
        signup = self._signup_confirmed_by(message, conversation, decision)
        if look is None and signup is None and decision.action == "pass":
            with Session(reading(self.engine)) as session:
                look = _look(session, message, conversation, flows=self.flows is not None)
        flow = (
            self._flow_answer(message, conversation, waited, look)
            if look is not None and signup is None and decision.action == "pass"
            else None
        )
        if (
            look is not None
            and signup is None
            and flow is None
            and decision.action == "pass"
            and not waited
            and self._wait_for_ai(message, conversation, look)
        ):
            return
        decided: Decided | None
        if signup is not None:
            decided = None  # the signup's confirmation is the whole answer
        elif flow is not None:
            decided = flow  # the answer to a flow's question: no AI step reads it as a question
        elif waited and self._opted_out_since(message, conversation):
            decided = None  # answering a question asked before a STOP: never
        elif decision.action == "pass" and self.readiness and self.readiness.state == "failed":
            decided = _ai_unavailable(self.readiness)
        else:
            decided = self._respond(message, conversation, decision, look)
        if decided is not None and isinstance(decided.decision, OptOut):
            decision = decided.decision.decision  # the AI second pass read a revocation (§7)
        # A consent capture is ordered with opt-outs like a send is (contact_lock): a STOP
        # recorded meanwhile by another path (a carrier report) is seen, never overwritten.
        lock = (
            contact_lock(self.engine, conversation.brand, conversation.phone_e164)
            if signup is not None
            else nullcontext()
        )
        with lock, Session(self.engine) as session:
            message = session.get(Message, message_id)
            conversation = session.get(Conversation, message.conversation_id) if message else None
            if message is None or conversation is None or message.status == "processed":
                return
            queue = _queue_state(unresolved_item(session, conversation_id=conversation.id))
            confirmed = (
                signup is not None
                and self.signups is not None
                and self.signups.confirm(
                    session,
                    signup,
                    message=message,
                    conversation=conversation,
                    provider_replied=self.provider_handles_keywords,  # PROV-1 (b): YES is exact
                )
            )
            if not confirmed:
                self._act(session, message, conversation, decision, decided, queue)
            if decision.action == "opt_out" and self.signups is not None:
                self.signups.cancel_for_opt_out(
                    session, brand=conversation.brand, phone=conversation.phone_e164,
                    reason="the customer opted out while it waited",
                )  # fmt: skip
            if decided is not None and decided.record:
                draft_only = not self._may_answer(decision, queue)
                record_decision(session, message=message, decided=decided, draft_only=draft_only)
            add_status(session, message, "processed", detail=f"{decision.action}/{decision.match}")
            session.commit()
        _logger.info("pipeline.processed", action=decision.action, match=decision.match)

    def _signup_confirmed_by(
        self, message: Message, conversation: Conversation, decision: InboundDecision
    ) -> uuid.UUID | None:
        """The pending signup this text's YES confirms (deterministic, before any AI step)."""
        if self.signups is None:
            return None
        return self.signups.confirmed_by(
            brand=conversation.brand,
            phone=conversation.phone_e164,
            body=message.body,
            decision=decision,
            received_at=message.created_at,
        )

    def _wait_for_ai(self, message: Message, conversation: Conversation, look: _Look) -> bool:
        """Queue the AI half of a passed text when the AI is loading or an earlier text of the
        conversation already waits for it (order); whether it was queued."""
        if match_patterns(message.body) is not None:
            return False  # danger goes to a person now: the patterns need no model
        loading = self.readiness is not None and self.readiness.state == "loading"
        if not loading and not look.waiting:
            # Only this conversation's own job (us: one at a time per key) queues texts for
            # the AI: none can have joined the queue since the snapshot.
            return False
        key = f"ai|{conversation_key(conversation.brand, conversation.phone_e164)}"
        with Session(self.engine) as session:
            stored = session.get(Message, message.id)
            if stored is None or stored.status in ("processed", WAITING_FOR_AI):
                return True
            enqueue(
                session,
                kind=RESPOND_INBOUND,
                key=key,
                payload={"message_id": str(message.id)},
                dedupe_key=f"ai:{message.id}",
            )
            add_status(session, stored, WAITING_FOR_AI, detail="pass/ai_loading")
            session.commit()
        _logger.info("pipeline.waiting_for_ai")
        return True

    def _flow_answer(
        self, message: Message, conversation: Conversation, waited: bool, look: _Look
    ) -> Decided | None:
        """The text as an answer to the conversation's flow question (None: not one).

        Compliance has passed it already (STOP/HELP/START never reach here), and danger never
        counts as an answer. While the AI loads only an option's key counts; a text that might
        be a free-text answer waits for the AI like any other (its turn, in order).
        """
        if self.flows is None or not look.in_flow or match_patterns(message.body) is not None:
            return None
        loading = not waited and self.readiness is not None and self.readiness.state == "loading"
        if look.queue == "owned" or (not waited and look.waiting):
            return None  # a person has the thread, or an earlier text is still unread
        encoder = None if loading or self.flow_encoder is None else self.flow_encoder()
        decided = self.flows.decide(
            reading(self.engine),  # it only reads: outside the writers' queue
            conversation_id=conversation.id,
            body=message.body,
            at=message.created_at,
            encoder=encoder,
        )
        if decided is None or not isinstance(decided.decision, FlowAnswer):
            return None
        if loading and decided.decision.option is None:
            return None  # the encoder may still read it once loaded
        return decided

    def _opted_out_since(self, message: Message, conversation: Conversation) -> bool:
        """Whether the customer opted out of everything after this text (IN-2): a text that
        waited for the AI is then neither answered nor handed off."""
        consent = self.compliance.consent(conversation.phone_e164, brand=conversation.brand)
        return (
            consent.state.status == "opted_out"
            and consent.state.scope == "all"
            and consent.opted_out_at is not None
            and consent.opted_out_at > message.created_at
        )

    def _respond(
        self,
        message: Message,
        conversation: Conversation,
        decision: InboundDecision,
        look: _Look | None,
    ) -> Decided | None:
        # The responder runs outside any transaction: it may be slow (an LLM), and it only
        # sees texts the compliance layer passed. While a person owns the thread it still
        # runs, but only to draft: `_act` sends nothing it wrote.
        if decision.action != "pass" or look is None:
            return None
        request = ResponderRequest(
            conversation_id=conversation.id,
            phone=conversation.phone_e164,
            body=message.body,
            decision=decision,
            history=look.history,
            first_outbound=conversation.last_outbound_at is None,
            opt_out=opt_out_tool(
                self.compliance,
                phone=conversation.phone_e164,
                received_at=message.created_at,
                provider_message_id=f"{message.provider}:{message.provider_message_id}",
                brand=conversation.brand,
            ),
            previous=look.previous,
            queue=look.queue,
            has_media=bool(message.media),
            brand=conversation.brand,
            context=self.context,
        )
        try:
            return self.responder.respond(request)
        except Exception as exc:  # an unexpected failure goes to a person, never to silence
            _logger.error("pipeline.responder_failed", error=repr(exc))
            handoff = HandOff((Reason.responder_error,))
            return Decided(handoff, {"decision": "handoff", "reasons": ["responder_error"]})

    def _act(
        self,
        session: Session,
        message: Message,
        conversation: Conversation,
        decision: InboundDecision,
        decided: Decided | None,
        queue: QueueState,
    ) -> None:
        reasons: list[Reason] = []
        texts: list[tuple[str, str]] = []  # (body, purpose) for the customer, in order
        if decision.safety_escalation or match_patterns(message.body) is not None:
            # Danger in a text the compliance layer acted on ("cancel everything, i want to
            # end it"): the patterns need no model, so safety never waits on the AI.
            reasons.append(Reason.safety)
        if decision.action == "opt_out":
            cancel_pending(session, conversation=conversation, reason="customer opted out (IN-2)")
            self._end_flows(session, conversation, decision)
            if decision.handoff:
                reasons.append(Reason.compliance_handoff)
            if queue != "none":
                reasons.append(Reason.opted_out)  # the agent must see it before typing a reply
        if self.flows is not None:
            settle_expired(session, conversation_id=conversation.id, at=message.created_at)
        if decision.reply is not None and not self._provider_replied(decision):
            text = reply_text(
                decision.reply,
                language=decision.reply_language,
                brand=self.brand,
                scope=decision.scope,
            )
            queue_outbound(
                session,
                conversation=conversation,
                body=text,
                category="reply",
                purpose=decision.reply,
                idempotency_key=f"{decision.reply}:{message.id}",
                provider=self.provider,
                expires_at=message.created_at + CONFIRMATION_DEADLINE,
            )
        chosen = decided.decision if decided is not None else None
        language = "en"
        team: str | None = None
        if isinstance(chosen, HandOff):
            reasons.extend(chosen.reasons)
            language, team = chosen.language, chosen.team
        elif isinstance(chosen, FlowAnswer) and self.flows is not None:
            effects = self.flows.act(session, message, chosen)
            if effects.handoff is not None:
                reasons.extend(effects.handoff.reasons)
                team = effects.handoff.team
            if Reason.safety not in reasons:
                texts.extend(effects.texts)
        elif isinstance(chosen, Reply):
            language = chosen.language
        if (
            isinstance(chosen, Reply | Clarify | Close)
            and self._may_answer(decision, queue)
            and Reason.safety not in reasons  # a text with danger in it is never answered
        ):
            texts.extend(_texts_of(chosen))
        if reasons:
            handoff = HandOff(tuple(dict.fromkeys(reasons)), team=team, language=language)
            opted_out = decision.reply_policy in ("single_response_no_marketing", "no_reply")
            told = self._hand_off(session, message, conversation, handoff, queue, opted_out)
            texts = told + texts
        self._send(session, message, conversation, texts, language)

    def _end_flows(
        self, session: Session, conversation: Conversation, decision: InboundDecision
    ) -> None:
        # An opt-out ends the flows it covers: everything, or only the marketing flows.
        only = None
        if decision.scope == "marketing" and self.flows is not None:
            catalogue = self.flows.flows.catalogue
            only = {f.name for f in catalogue if f.category == "marketing"}
        end_runs(session, conversation_id=conversation.id, status="opted_out", only=only)

    def _may_answer(self, decision: InboundDecision, queue: QueueState) -> bool:
        if decision.reply_policy == "no_reply":
            return False
        return queue == "none" or (queue == "waiting" and self.while_waiting == "answer")

    def _hand_off(
        self,
        session: Session,
        message: Message,
        conversation: Conversation,
        handoff: HandOff,
        queue: QueueState,
        opted_out: bool = False,
    ) -> list[tuple[str, str]]:
        """Queue the conversation and say so to the customer, in one step."""
        item = hand_off(
            session,
            conversation=conversation,
            reasons=[r.value for r in handoff.reasons],
            message_id=message.id,
            sla=self.sla,
            team=handoff.team,
            around_the_clock=handoff.safety,
        )
        if self.routing is not None and item.status == "open" and item.assigned_to is None:
            auto_assign(session, routing=self.routing, item=item)
        if self.wording is None or Reason.opted_out in handoff.reasons:
            return []
        if handoff.safety:
            return [(self.wording.safety(handoff.language), "safety")]
        if queue != "none" or Reason.compliance_handoff in handoff.reasons:
            return []  # already told, or the opt-out confirmation is the answer
        if opted_out:
            # IN-7: an opted-out sender's new text may get one reply, and it is the person's:
            # an acknowledgement would use it up promising a reply the gate then blocks.
            return []
        return [
            (self.wording.acknowledgement(handoff.group, handoff.language, now()), "handoff_ack")
        ]

    def _send(
        self,
        session: Session,
        message: Message,
        conversation: Conversation,
        texts: list[tuple[str, str]],
        language: str,
    ) -> None:
        first = conversation.last_outbound_at is None and not _anything_sent(session, conversation)
        for index, (body, purpose) in enumerate(texts):
            if first and index == 0:
                body = self._first_text(body, language)
            queue_outbound(
                session,
                conversation=conversation,
                body=body,
                category="reply",
                purpose=purpose,
                idempotency_key=f"{purpose}:{index}:{message.id}",
                provider=self.provider,
            )

    def _first_text(self, body: str, language: str) -> str:
        # MSG-2: the first text to a customer names the brand and says how to opt out.
        name = self.brand.name
        named = body if body.lower().startswith(name.lower()) else f"{name}: {body}"
        if "reply stop" in named.lower():
            return named
        instruction = (
            self.wording.opt_out_instruction(language) if self.wording else OPT_OUT_INSTRUCTION
        )
        return f"{named} {instruction}"

    def _provider_replied(self, decision: InboundDecision) -> bool:
        # PROV-1 (b): the provider answers single-word STOP/START/HELP itself; phrases and
        # clauses never reach its filter (PROV-2), so those confirmations stay ours.
        return self.provider_handles_keywords and decision.match == "exact"


def wake_waiting(engine: Engine) -> int:
    """Make every text waiting for the AI runnable now (the warm-up ended); how many."""
    with Session(engine) as session:
        result = session.exec(
            update(Job)
            .where(col(Job.kind) == RESPOND_INBOUND, col(Job.state) == "pending")
            .values(run_after=now())
        )
        session.commit()
        return int(result.rowcount or 0)


@dataclass(frozen=True, slots=True)
class _Look:
    """What deciding on a passed text reads of its conversation (one read-only snapshot)."""

    queue: QueueState
    waiting: bool
    """An earlier text of the conversation waits in the AI's queue."""
    in_flow: bool
    """The conversation has an active flow run (its question may be what this answers)."""
    history: tuple[Turn, ...]
    previous: Previous | None


def _look(session: Session, message: Message, conversation: Conversation, *, flows: bool) -> _Look:
    earlier = recent_messages(session, conversation_id=conversation.id, before=message.created_at)
    # A text waits for the AI exactly while its `respond_inbound` job does (both change in one
    # transaction); asked of the messages, not of the queue (procrastinate's is a full scan).
    waiting = session.exec(
        select(Message.id).where(
            Message.conversation_id == conversation.id,
            Message.status == WAITING_FOR_AI,
            Message.id != message.id,
        )
    ).first()
    return _Look(
        queue=_queue_state(unresolved_item(session, conversation_id=conversation.id)),
        waiting=waiting is not None,
        in_flow=flows and active_run(session, conversation_id=conversation.id) is not None,
        history=tuple(
            Turn("inbound" if m.direction == "inbound" else "outbound", m.body, m.created_at)
            for m in earlier
        ),
        previous=_previous(session, conversation.id, message.created_at),
    )


def _ai_unavailable(readiness: Readiness) -> Decided:
    """The AI failed to load: a person takes the text (acknowledged), never silence."""
    record = {"decision": "handoff", "reasons": [Reason.ai_unavailable.value]}
    return Decided(HandOff((Reason.ai_unavailable,)), record | {"error": readiness.reason})


def _texts_of(decision: Reply | Clarify | Close) -> list[tuple[str, str]]:
    if isinstance(decision, Reply):
        return [(answer.text, "reply") for answer in decision.answers]
    if isinstance(decision, Clarify):
        return [(decision.text, "clarify")]
    return [(decision.text, "close")] if decision.text else []


def _queue_state(item: HandoffItem | None) -> QueueState:
    if item is None:
        return "none"
    return "owned" if item.status == "claimed" else "waiting"


def _anything_sent(session: Session, conversation: Conversation) -> bool:
    found = session.exec(
        select(Message.id).where(
            Message.conversation_id == conversation.id,
            Message.direction == "outbound",
            col(Message.status).not_in(("cancelled", "blocked", "failed")),
        )
    ).first()
    return found is not None


def _previous(session: Session, conversation_id: uuid.UUID, before: datetime) -> Previous | None:
    """The bot's decision on the customer's previous text, if it is recent enough."""
    row = session.exec(
        select(AiDecision, Message)
        .join(Message, col(Message.id) == col(AiDecision.message_id))
        .where(AiDecision.conversation_id == conversation_id, col(Message.created_at) < before)
        .order_by(col(Message.created_at).desc())
    ).first()
    if row is None:
        return None
    decision, message = row
    if before - message.created_at > CONTEXT_WINDOW:
        return None
    record = decision.record
    options = tuple(
        Option(int(o["number"]), str(o["label"]), str(o["entry_id"]))
        for o in record.get("options") or []
    )
    return Previous(
        question=message.body,
        kind=decision.action,
        entries=tuple(record.get("entries") or ()),
        reply=record.get("draft") if decision.action == "reply" else None,
        options=options,
        at=message.created_at,
    )


def record_decision(
    session: Session, *, message: Message, decided: Decided, draft_only: bool = False
) -> None:
    """Store what the responder saw and decided, in the caller's transaction.

    `draft_only`: the bot may not answer now (a person owns the conversation, or the bot is
    silent while a hand-off waits), so a reply is kept as the agent's draft (`draft`).
    """
    record = dict(decided.record)
    action = decided.kind
    if draft_only and action in ("reply", "clarify"):
        action = "draft"
    reasons = (
        [r.value for r in decided.decision.reasons] if isinstance(decided.decision, HandOff) else []
    )
    intent = record.get("intent")
    confidence = record.get("confidence")
    session.add(
        AiDecision(
            message_id=message.id,
            conversation_id=message.conversation_id,
            action=action,
            intent=intent if isinstance(intent, str) else None,
            confidence=float(confidence) if isinstance(confidence, int | float) else None,
            reasons=reasons,
            record=record,
            created_at=now(),
        )
    )
