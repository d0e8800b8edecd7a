"""Outbound: queue a text, pass the gate at send time, hand it to the provider, record the result.

Nothing reaches the provider without `Compliance.check_outbound` at that moment (ARCH-2,
TIME-3): a STOP that arrived after a reply was queued still blocks it. The check and the
hand-off run under the number's `contact_lock`, which recording an opt-out also takes, so a
committed opt-out is final: nothing but its confirmation reaches the provider after it. Retries
(tenacity) only follow errors where the provider took nothing, reuse the message's idempotency
key, and check consent again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from app import log
from app.channels.base import OutboundSms, Sender
from app.compliance.contact_lock import contact_lock
from app.compliance.model import Category, GateRequest
from app.compliance.parsing import parse_instant
from app.compliance.segments import count_segments
from app.compliance.service import Compliance
from app.errors import ProviderError, RecipientOptedOut
from app.jobs import NotYet
from app.media.store import media_of
from app.outbound.pacing import SendPacer, sending_number
from app.storage import reading
from app.storage.messages import (
    add_status,
    conversation_key,
    enqueue,
    find_message,
    new_message,
    now,
    pending_outbound,
)
from app.storage.tables import Conversation, Message

SEND_OUTBOUND = "send_outbound"
CARRIER_OPT_OUT = "21610"  # Twilio: "Attempt to send to unsubscribed recipient"
# Texts whose words are fixed and vetted (SPEC §8): the content rules are for everything else.
COMPLIANCE_PURPOSES = {"opt_out_confirmation", "opt_in_confirmation", "help"}
UNPACED_PURPOSES = COMPLIANCE_PURPOSES | {"safety"}
"""Texts that never wait for a throughput slot: STOP/START/HELP answers are due within minutes
(TIME-2), and a customer in danger is told where to get help at once; both are rare."""
KEYWORD_ANSWER_PRIORITY = 1
"""Job priority of those texts' sends (as `ingress.URGENT` for the STOP itself): a confirmation is
due within 5 minutes (TIME-2), so under a backlog it must not wait behind other customers' texts."""
_logger = log.get_logger("outbound")


def queue_outbound(
    session: Session,
    *,
    conversation: Conversation,
    body: str,
    category: Category,
    purpose: str,
    idempotency_key: str,
    provider: str,
    expires_at: datetime | None = None,
    urgent: bool = False,
    campaign_id: uuid.UUID | None = None,
    send_after: datetime | None = None,
) -> Message:
    """Add an outbound text and its send job to the caller's transaction.

    `urgent`: a transactional text the sender marked urgent (QH-5); kept on the message so the
    send-time gate judges it as urgent too. `campaign_id`: the bulk send it belongs to, whose
    throughput limit paces it too. `send_after`: the sender already knows the gate holds it
    until then (an agent's yes to "schedule for 08:00"): stored as scheduled at once, with no
    send job until `release_due` queues it, when the gate judges it again.
    """
    size = count_segments(body)
    message = new_message(
        session,
        conversation=conversation,
        direction="outbound",
        provider=provider,
        idempotency_key=idempotency_key,
        body=body,
        category=category,
        purpose=purpose,
        segments=size.segments,
        encoding=size.encoding,
        status="queued" if send_after is None else "scheduled",
        send_after=send_after,
        expires_at=expires_at,
        urgent=urgent,
        campaign_id=campaign_id,
    )
    if send_after is None:
        _enqueue_send(session, conversation, message)
    return message


def _enqueue_send(session: Session, conversation: Conversation, message: Message) -> None:
    # Sends have their own ordering key: a reply waiting out a retry must never hold up the
    # processing of the customer's next text (which may be a STOP).
    urgent = message.purpose in COMPLIANCE_PURPOSES
    enqueue(
        session,
        kind=SEND_OUTBOUND,
        key="send|" + conversation_key(conversation.brand, conversation.phone_e164),
        payload={"message_id": str(message.id)},
        dedupe_key=f"send:{message.id}:{message.attempts}:{message.updated_at.isoformat()}",
        priority=KEYWORD_ANSWER_PRIORITY if urgent else 0,
        after_waiting=urgent and _queued_before(session, message),
    )


def _queued_before(session: Session, message: Message) -> bool:
    """Whether another text of the conversation waits for its send job (enqueue's
    `after_waiting`: a priority must not let this one overtake it)."""
    found = session.exec(
        select(Message.id).where(
            Message.conversation_id == message.conversation_id,
            Message.direction == "outbound",
            Message.status == "queued",
            Message.id != message.id,
        )
    ).first()
    return found is not None


def cancel_pending(session: Session, *, conversation: Conversation, reason: str) -> int:
    """Cancel every queued or scheduled outbound text of a conversation (IN-2)."""
    pending = pending_outbound(session, conversation_id=conversation.id, lock=True)
    for message in pending:
        add_status(session, message, "cancelled", detail=reason)
    return len(pending)


def release_due(engine: Engine) -> int:
    """Queue the scheduled texts whose time has come (run about once a second)."""
    with Session(engine) as session:
        due = session.exec(
            select(Message)
            .where(Message.status == "scheduled", col(Message.send_after) <= now())
            .limit(500)
        ).all()
        for message in due:
            conversation = session.get(Conversation, message.conversation_id)
            assert conversation is not None
            add_status(session, message, "queued", detail="scheduled time reached")
            _enqueue_send(session, conversation, message)
        session.commit()
        return len(due)


@dataclass
class OutboundSender:
    """Runs `send_outbound` jobs: gate, provider, result."""

    engine: Engine
    compliance: Compliance
    sender: Sender
    status_callback: str | None = None
    max_attempts: int = 4
    retry_wait: wait_base = field(
        default_factory=lambda: wait_random_exponential(multiplier=0.5, max=8)
    )
    pacer: SendPacer | None = None
    """Throughput limits per sending number and per campaign (None: unpaced)."""
    media_link: Callable[[uuid.UUID], str] | None = None
    """The public URL the provider fetches a picture from (None: pictures are not sent)."""

    def __call__(self, payload: dict[str, str]) -> None:
        """The job handler."""
        self.send(uuid.UUID(payload["message_id"]))

    def send(self, message_id: uuid.UUID) -> None:
        """Send one queued text if the gate allows it now; otherwise schedule or block it."""
        with Session(reading(self.engine), expire_on_commit=False) as session:
            message = session.get(Message, message_id)
            conversation = session.get(Conversation, message.conversation_id) if message else None
        # "sending" again means a crash mid-send: retry with the same idempotency key.
        if message is None or conversation is None or message.status not in ("queued", "sending"):
            return
        if message.expires_at is not None and now() > message.expires_at:
            self._record(message, "failed", detail="expired before it could be sent")
            return
        deadline = (message.expires_at - now()).total_seconds() if message.expires_at else 60.0
        # Each attempt checks consent again under the contact lock: the waits between attempts
        # are outside it, so a STOP never waits for a retry's back-off.
        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, ProviderError) and e.retryable),
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(max(1.0, deadline)),
            wait=self.retry_wait,
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            retrying(self._attempt, message_id, conversation)
        except RecipientOptedOut as exc:
            self._carrier_opt_out(message, conversation, exc)
        except ProviderError as exc:
            self._record(message, "failed", detail=str(exc), error_code=exc.provider_code)

    def _attempt(self, message_id: uuid.UUID, conversation: Conversation) -> None:
        """Gate, hand-off and result of one attempt, all under the number's contact lock.

        The lock is what makes a committed opt-out final (IN-2, TIME-3): recording an opt-out
        takes it too, so either this attempt's consent check sees the opt-out, or the provider
        has the text before the opt-out commits. The SQLite write lock is not held during the
        provider call (only short transactions inside): see `contact_lock` for the trade-off.
        """
        with contact_lock(self.engine, conversation.brand, conversation.phone_e164):
            # Only reads (outside SQLite's writers' queue): the row lock below decides.
            with Session(reading(self.engine), expire_on_commit=False) as session:
                message = session.get(Message, message_id)
                if message is None or message.status not in ("queued", "sending"):
                    return  # cancelled by an opt-out (or a carrier report) meanwhile
                fresh = session.get(Conversation, conversation.id)
                conversation = fresh if fresh is not None else conversation
            self._wait_for_slot(message, conversation)
            category: Category = message.category or "reply"  # type: ignore[assignment]
            request = GateRequest(conversation.phone_e164, now(), category, urgent=message.urgent)
            decision = self.compliance.check_outbound(
                request,
                body=None if message.purpose in COMPLIANCE_PURPOSES else message.body,
                first_message=conversation.last_outbound_at is None,
                brand=conversation.brand,
                keyword_reply=message.purpose in COMPLIANCE_PURPOSES,
                has_media=bool(message.media),
                record=False,  # recorded below, in the commit that acts on it
            )
            with Session(self.engine, expire_on_commit=False) as session:
                # The row lock orders this with `cancel_pending` (which runs without the contact
                # lock): whichever commits first, the other sees it.
                stored = session.get(Message, message_id, with_for_update=True)
                if stored is None or stored.status not in ("queued", "sending"):
                    return
                self.compliance.record_gate(
                    session,
                    decision,
                    brand=conversation.brand,
                    phone=conversation.phone_e164,
                    at=request.send_at,
                )
                if not decision.allowed:
                    reasons = "; ".join(decision.reasons)
                    self._hold(session, stored, decision.rule, decision.next_allowed_utc, reasons)
                    session.commit()
                    return
                self._take_slot(stored, conversation)
                stored.attempts += 1
                add_status(session, stored, "sending")
                session.commit()
            self._deliver(stored, conversation)

    def _wait_for_slot(self, message: Message, conversation: Conversation) -> None:
        """Raise `NotYet` (the job runs again once a slot frees) when over a throughput limit.

        Tested before the gate so that a waiting text does not record a gate decision on each
        try; compliance confirmations and safety texts never wait (`UNPACED_PURPOSES`)."""
        if self.pacer is None or message.purpose in UNPACED_PURPOSES:
            return
        number = sending_number(conversation.brand, conversation.business_number)
        wait = self.pacer.wait(number=number, campaign_id=message.campaign_id)
        if wait > 0:
            raise NotYet("over the sending throughput limit", seconds=wait)

    def _take_slot(self, message: Message, conversation: Conversation) -> None:
        if self.pacer is None:
            return
        number = sending_number(conversation.brand, conversation.business_number)
        if message.purpose in UNPACED_PURPOSES:
            self.pacer.count(number=number)
        elif not self.pacer.take(number=number, campaign_id=message.campaign_id):
            # Another text took the last slot since the test: nothing is marked sending yet.
            raise NotYet("over the sending throughput limit", seconds=0.05)

    def _hold(
        self,
        session: Session,
        message: Message,
        rule: str,
        next_allowed_utc: str | None,
        reasons: str,
    ) -> None:
        if next_allowed_utc is None:
            add_status(session, message, "blocked", detail=f"{rule}: {reasons}".strip(": "))
            return
        when = parse_instant(next_allowed_utc)
        if message.expires_at is not None and when > message.expires_at:
            add_status(session, message, "failed", detail=f"{rule}; next allowed after expiry")
            return
        message.send_after = when
        add_status(
            session, message, "scheduled", detail=f"{rule}: {reasons}; at {when:%Y-%m-%dT%H:%MZ}"
        )

    def _media_urls(self, message: Message) -> tuple[str, ...]:
        """Fresh signed links to the text's pictures (made at send time: they expire)."""
        if self.media_link is None or not message.media:
            return ()
        with Session(reading(self.engine)) as session:
            found = media_of(session, [message.id]).get(message.id, [])
        return tuple(self.media_link(m.id) for m in found if m.state == "fetched")

    def _deliver(self, message: Message, conversation: Conversation) -> None:
        """One hand-off to the provider and its result (raises `ProviderError` to retry)."""
        sms = OutboundSms(
            message_id=message.id,
            to_number=conversation.phone_e164,
            body=message.body,
            idempotency_key=message.idempotency_key or str(message.id),
            from_number=conversation.business_number,
            status_callback=self.status_callback,
            media_urls=self._media_urls(message),
        )
        result = self.sender.send(sms)
        self._record(message, result.status, provider_message_id=result.provider_message_id)

    def _record(
        self,
        message: Message,
        status: str,
        *,
        detail: str | None = None,
        error_code: str | None = None,
        provider_message_id: str | None = None,
    ) -> None:
        """The text's new status; a text the provider took (it has the provider's id) goes in
        the consent ledger in the same commit."""
        with Session(self.engine) as session:
            stored = session.get(Message, message.id)
            assert stored is not None
            if provider_message_id is not None:
                stored.provider_message_id = provider_message_id
                conversation = session.get(Conversation, stored.conversation_id)
                assert conversation is not None
                conversation.last_outbound_at = now()
                self.compliance.record_sent(
                    session,
                    phone=conversation.phone_e164,
                    at=conversation.last_outbound_at,
                    brand=conversation.brand,
                    category=stored.category or "reply",  # type: ignore[arg-type]
                    provider_message_id=provider_message_id,
                    confirmation=stored.purpose == "opt_out_confirmation",
                )
                session.add(conversation)
            add_status(session, stored, status, detail=detail, error_code=error_code)
            session.commit()

    def _carrier_opt_out(
        self, message: Message, conversation: Conversation, exc: RecipientOptedOut
    ) -> None:
        # The carrier says the number opted out (Twilio 21610): our ledger must agree, and
        # nothing else queued for it may go.
        self._record(message, "failed", detail=str(exc), error_code=exc.provider_code)
        self.compliance.record(
            "opt_out",
            phone=conversation.phone_e164,
            at=now(),
            brand=conversation.brand,
            scope="all",
            channel="sms",
            source=f"carrier:{exc.provider_code}",
        )
        with Session(self.engine) as session:
            stored = session.get(Conversation, conversation.id)
            assert stored is not None
            cancel_pending(session, conversation=stored, reason="carrier reports opt-out")
            session.commit()


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    _logger.info("outbound.retry", attempt=state.attempt_number, error=repr(error))


def apply_delivery_status(
    engine: Engine,
    compliance: Compliance,
    *,
    provider: str,
    provider_message_id: str,
    status: str,
    error_code: str | None,
) -> bool:
    """Record a provider's delivery report; False if the message is not ours.

    Error 21610 (the carrier has the recipient opted out) is recorded in the consent ledger and
    cancels whatever else is queued for that number.
    """
    with Session(engine) as session:
        message = find_message(session, provider=provider, provider_message_id=provider_message_id)
        if message is None:
            return False
        conversation = session.get(Conversation, message.conversation_id)
        assert conversation is not None
        if message.status != status or error_code is not None:
            add_status(session, message, status, error_code=error_code)
        carrier_opt_out = error_code == CARRIER_OPT_OUT
        if carrier_opt_out:
            cancel_pending(session, conversation=conversation, reason="carrier reports opt-out")
        session.commit()
        phone, brand = conversation.phone_e164, conversation.brand
    if carrier_opt_out:
        compliance.record(
            "opt_out", phone=phone, at=now(), brand=brand, scope="all", channel="sms",
            source=f"carrier:{error_code}",
        )  # fmt: skip
    return True
