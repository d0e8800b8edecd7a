"""The inbound step: compliance first, then the responder, then outbound.

Safe to run twice for one message (a crash between two commits re-runs the job): the compliance
decision is stored per provider message id, and every effect below is committed in one
transaction together with the message's `processed` status.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from app import log
from app.compliance.model import InboundDecision
from app.compliance.replies import Brand, reply_text
from app.compliance.second_pass import opt_out_tool
from app.compliance.service import Compliance
from app.handoff.queue import hand_off
from app.handoff.sla import FirstResponseSla
from app.outbound.send import cancel_pending, queue_outbound
from app.pipeline.responder import Responder, ResponderRequest, ResponderResult, Turn
from app.storage.messages import add_status, now, recent_messages
from app.storage.tables import AiDecision, Conversation, Message

CONFIRMATION_DEADLINE = timedelta(minutes=5)  # TIME-2 / FCC-3
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

    def __call__(self, payload: dict[str, str]) -> None:
        """The job handler."""
        self.process(uuid.UUID(payload["message_id"]))

    def process(self, message_id: uuid.UUID) -> None:
        """Decide on one inbound text and commit everything that follows from it."""
        with Session(self.engine, expire_on_commit=False) as session:
            message = session.get(Message, message_id)
            if message is None or message.status == "processed":
                return
            conversation = session.get(Conversation, message.conversation_id)
            assert conversation is not None
        decision = self.compliance.process_inbound(
            phone=conversation.phone_e164,
            body=message.body,
            received_at=message.created_at,
            provider_message_id=f"{message.provider}:{message.provider_message_id}",
            brand=conversation.brand,
        )
        result = self._respond(message, conversation, decision)
        if result is not None and result.revocation is not None:
            decision = result.revocation  # the AI second pass read a revocation (SPEC §7)
        with Session(self.engine) as session:
            message = session.get(Message, message_id)
            conversation = session.get(Conversation, message.conversation_id) if message else None
            if message is None or conversation is None or message.status == "processed":
                return
            with_person = conversation.status == "human"
            self._apply(session, message, conversation, decision, result)
            if result is not None and result.record:
                record_decision(session, message=message, result=result, draft_only=with_person)
            add_status(session, message, "processed", detail=f"{decision.action}/{decision.match}")
            session.commit()
        _logger.info("pipeline.processed", action=decision.action, match=decision.match)

    def _respond(
        self, message: Message, conversation: Conversation, decision: InboundDecision
    ) -> ResponderResult | None:
        # The responder runs outside any transaction: it may be slow (an LLM), and it only
        # sees texts the compliance layer passed. While a person owns the thread it still
        # runs, but only to draft: `_apply` sends nothing it wrote.
        if decision.action != "pass":
            return None
        with Session(self.engine) as session:
            earlier = recent_messages(
                session, conversation_id=conversation.id, before=message.created_at
            )
        request = ResponderRequest(
            conversation_id=conversation.id,
            phone=conversation.phone_e164,
            body=message.body,
            decision=decision,
            history=tuple(
                Turn("inbound" if m.direction == "inbound" else "outbound", m.body, m.created_at)
                for m in earlier
            ),
            first_outbound=conversation.last_outbound_at is None,
            opt_out=opt_out_tool(
                self.compliance,
                phone=conversation.phone_e164,
                received_at=message.created_at,
                provider_message_id=f"{message.provider}:{message.provider_message_id}",
                brand=conversation.brand,
            ),
        )
        try:
            return self.responder.respond(request)
        except Exception as exc:  # an unexpected failure goes to a person, never to silence
            _logger.error("pipeline.responder_failed", error=repr(exc))
            return ResponderResult(handoff_reasons=("responder_error",))

    def _apply(
        self,
        session: Session,
        message: Message,
        conversation: Conversation,
        decision: InboundDecision,
        result: ResponderResult | None,
    ) -> None:
        reasons: list[str] = []
        with_person = conversation.status == "human"
        if decision.safety_escalation:
            reasons.append("safety_language")
        if decision.action == "opt_out":
            cancel_pending(session, conversation=conversation, reason="customer opted out (IN-2)")
            if decision.handoff:
                reasons.append("compliance_handoff")
            if with_person:
                reasons.append("opted_out")  # the agent must see it before typing a reply
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
        if result is not None and result.revocation is None:
            reasons.extend(result.handoff_reasons)
            if result.reply and decision.reply_policy != "no_reply" and not with_person:
                queue_outbound(
                    session,
                    conversation=conversation,
                    body=result.reply,
                    category="reply",
                    purpose="reply",
                    idempotency_key=f"reply:{message.id}",
                    provider=self.provider,
                )
        if reasons:
            team = result.record.get("team") if result is not None else None
            hand_off(
                session,
                conversation=conversation,
                reasons=reasons,
                message_id=message.id,
                sla=self.sla,
                team=team if isinstance(team, str) else None,
            )

    def _provider_replied(self, decision: InboundDecision) -> bool:
        # PROV-1 (b): the provider answers single-word STOP/START/HELP itself; phrases and
        # clauses never reach its filter (PROV-2), so those confirmations stay ours.
        return self.provider_handles_keywords and decision.match == "exact"


def record_decision(
    session: Session, *, message: Message, result: ResponderResult, draft_only: bool = False
) -> None:
    """Store what the responder saw and decided, in the caller's transaction.

    `draft_only`: a person owns the conversation, so a reply is kept as the agent's draft.
    """
    record = dict(result.record)
    if result.revocation is not None:
        action = "opt_out"
    elif draft_only and result.reply:
        action = "draft"
    elif result.handoff_reasons:
        action = "handoff"
    else:
        action = "reply" if result.reply else "silent"
    intent = record.get("intent")
    confidence = record.get("confidence")
    session.add(
        AiDecision(
            message_id=message.id,
            conversation_id=message.conversation_id,
            action=action,
            intent=intent if isinstance(intent, str) else None,
            confidence=float(confidence) if isinstance(confidence, int | float) else None,
            reasons=list(result.handoff_reasons),
            record=record,
            created_at=now(),
        )
    )
