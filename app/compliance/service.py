"""The compliance layer's public face: inbound decisions and the outbound gate, on the ledger.

Every call reads the ledger, decides with the pure rules, and appends what happened in the
same transaction, so a committed opt-out is in force before anything else sees the message
(ARCH-1, TIME-1).
"""

from __future__ import annotations

import re
from contextlib import nullcontext
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app import clock
from app.compliance.contact_lock import contact_lock
from app.compliance.content import check_content
from app.compliance.gate import check_outbound
from app.compliance.inbound import classify
from app.compliance.ledger import (
    REVOCATION_EVENTS,
    Channel,
    ConsentLedger,
    ContactConsent,
    EventType,
)
from app.compliance.lexicon import ruleset_version
from app.compliance.model import (
    OPTED_OUT,
    SUBSCRIBED,
    Category,
    GateDecision,
    GateRequest,
    InboundDecision,
    Policy,
    Scope,
    Status,
)
from app.compliance.own_products import load_own_products
from app.compliance.parsing import parse_e164
from app.compliance.suppression import cancel_unsent
from app.config import Settings
from app.storage import reading
from app.storage.tables import ComplianceDecision

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_STRONGER_THAN_CONSENT = {"opted_out", "non_us_marketing_out_of_scope", "content_blocked"}


def policy_from(settings: Settings) -> Policy:
    """The compliance policy that the settings describe."""
    until = settings.marketing_only_revocations_until
    return Policy(
        strict_mode=settings.strict_mode,
        marketing_only_revocations_until=(
            datetime.combine(until, time(), tzinfo=UTC) if until is not None else None
        ),
        reply_window_hours=settings.reply_window_hours,
        max_reply_chars=settings.max_reply_chars,
        governor_holidays=frozenset(day.isoformat() for day in settings.governor_holidays),
        own_products=load_own_products(settings.knowledge_dir),
        marketing_cap=settings.marketing_cap_per_number,
        marketing_cap_hours=settings.marketing_cap_hours,
    )


def storable(body: str) -> str:
    """The body with what no database can store (NUL, lone surrogates) replaced by U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", body)


class Compliance:
    """Consent decisions for inbound texts and send-time checks for outbound ones."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.ledger = ConsentLedger(engine)
        self.settings = settings
        self.policy = policy_from(settings)

    def consent(self, phone: str, *, brand: str | None = None) -> ContactConsent:
        """Current consent of a number."""
        with self.ledger.session() as session:
            return self.ledger.consent(session, brand=brand or self.settings.brand_id, phone=phone)

    def preview_inbound(
        self,
        *,
        phone: str,
        body: str,
        received_at: datetime,
        state: Status | None = None,
        brand: str | None = None,
    ) -> InboundDecision:
        """What `body` would mean for consent now, without recording anything."""
        phone, brand = parse_e164(phone), brand or self.settings.brand_id
        if state is None:
            current = self.consent(phone, brand=brand).state
        else:
            current = OPTED_OUT if state == "opted_out" else SUBSCRIBED
        return classify(body, state=current, received_at=received_at, policy=self.policy)

    def process_inbound(
        self,
        *,
        phone: str,
        body: str,
        received_at: datetime,
        provider_message_id: str | None = None,
        channel: Channel = "sms",
        brand: str | None = None,
    ) -> InboundDecision:
        """Classify an inbound text and commit its consent effect; idempotent per message id."""
        phone, brand = parse_e164(phone), brand or self.settings.brand_id
        # The contact lock orders this with every send to the number (see contact_lock), and
        # serialises read-then-append per number on PostgreSQL (SQLite: BEGIN IMMEDIATE too).
        with contact_lock(self.ledger.engine, brand, phone), self.ledger.session() as session:
            if provider_message_id is not None:
                stored = self.ledger.decision_for(
                    session,
                    brand=brand,
                    direction="inbound",
                    provider_message_id=provider_message_id,
                )
                if stored is not None:
                    return InboundDecision.model_validate(stored.decision)
            consent = self.ledger.consent(session, brand=brand, phone=phone)
            decision = classify(
                body, state=consent.state, received_at=received_at, policy=self.policy
            )
            event_type = _event_type(decision)
            if event_type is not None:
                self.ledger.append(
                    session,
                    ruleset_version=decision.ruleset_version,
                    brand=brand,
                    phone_e164=phone,
                    event_type=event_type,
                    scope=decision.scope,
                    channel=channel,
                    source=f"{channel}:inbound",
                    body=storable(body),
                    provider_message_id=provider_message_id,
                    normalised_text=storable(decision.normalised_text),
                    rule=decision.match,
                    keyword=decision.keyword or decision.phrase_id,
                    received_at=received_at,
                )
            if event_type in REVOCATION_EVENTS:
                # IN-2: in the opt-out's own commit, so nothing queued can leave after it.
                cancel_unsent(
                    session,
                    brand=brand,
                    phone=phone,
                    reason="customer opted out (IN-2)",
                    marketing_only=decision.scope == "marketing",
                )
            session.add(
                ComplianceDecision(
                    brand=brand,
                    phone_e164=phone,
                    direction="inbound",
                    provider_message_id=provider_message_id,
                    outcome=decision.action,
                    rule=decision.match,
                    ruleset_version=decision.ruleset_version,
                    occurred_at=received_at,
                    decided_at=clock.now(),
                    decision=_json(decision.model_dump(mode="json")),
                )
            )
            try:
                session.commit()
            except IntegrityError:
                # A concurrent retry of the same message won the race: its decision stands.
                session.rollback()
                if provider_message_id is None:
                    raise
                stored = self.ledger.decision_for(
                    session,
                    brand=brand,
                    direction="inbound",
                    provider_message_id=provider_message_id,
                )
                if stored is None:
                    raise
                return InboundDecision.model_validate(stored.decision)
        return decision

    def check_outbound(
        self,
        request: GateRequest,
        *,
        body: str | None = None,
        first_message: bool = False,
        brand: str | None = None,
        record: bool = True,
        keyword_reply: bool = False,
        has_media: bool = False,
    ) -> GateDecision:
        """May this message be sent at `request.send_at`? (SPEC §10, §12; ARCH-2).

        `keyword_reply`: the answer to HELP, STOP or START, which is owed in every state (IN-3,
        IN-6) and so does not use up the one reply IN-7 allows an opted-out sender.
        `has_media`: pictures go with `body` (a picture-only text is no empty text).
        """
        phone, brand = parse_e164(request.to), brand or self.settings.brand_id
        # Reads only, outside SQLite's writers' queue: a send asks under its contact lock, which
        # every opt-out and every send to the number also takes, so nothing read here can
        # change before the text leaves.
        with Session(reading(self.ledger.engine), expire_on_commit=False) as session:
            consent = self.ledger.consent(session, brand=brand, phone=phone)
            last_inbound = request.last_inbound_at or self.ledger.last_inbound_at(
                session, brand=brand, phone=phone
            )
            # QH-3 looks back 24 h; the brand's own cap (if any) may look further.
            lookback = 24 if self.policy.marketing_cap is None else self.policy.marketing_cap_hours
            since = request.send_at - timedelta(hours=max(24, lookback))
            marketing = self.ledger.sends(
                session, brand=brand, phone=phone, category="marketing", since=since
            )
            replies = (
                0
                if keyword_reply
                else len(
                    self.ledger.sends(
                        session, brand=brand, phone=phone, category="reply", since=last_inbound
                    )
                )
                if last_inbound is not None
                else 0
            )
            if (
                consent.state.status == "opted_out"
                and not keyword_reply
                and (
                    last_inbound is None
                    or consent.opted_out_at is None
                    or last_inbound <= consent.opted_out_at
                )
            ):
                # IN-7's one reply answers a text the customer sent after opting out; a reply to
                # anything before the opt-out (queued, not yet cancelled) must never go.
                replies = max(replies, 1)
            content = (
                check_content(
                    body,
                    category=request.category,
                    brand_name=self.settings.brand_name,
                    first_message=first_message,
                    max_chars=self.settings.max_reply_chars,
                    has_media=has_media,
                )
                if body is not None
                else None
            )
            request = GateRequest(
                to=phone,
                send_at=request.send_at,
                category=request.category,
                urgent=request.urgent,
                last_inbound_at=last_inbound,
                known_state=request.known_state,
                verified_time_zone=request.verified_time_zone,
            )
            decision = check_outbound(
                request,
                consent=consent.state,
                prior_marketing_sends=[t for t in marketing if t < request.send_at],
                replies_since_last_inbound=replies,
                policy=self.policy,
                content=content,
            )
            # No hour makes marketing legal without prior express written consent (§1), so this
            # outranks the clock; an opt-out or an out-of-scope number still says so first.
            if (
                request.category == "marketing"
                and not consent.marketing_consent
                and decision.rule not in _STRONGER_THAN_CONSENT
            ):
                decision = decision.model_copy(
                    update={
                        "allowed": False,
                        "rule": "no_marketing_consent",
                        "next_allowed_utc": None,
                        "next_allowed_local": None,
                        "reasons": ["no prior express written consent to marketing is on record"],
                    }
                )
        if record:
            with self.ledger.session() as session:
                self.record_gate(session, decision, brand=brand, phone=phone, at=request.send_at)
                session.commit()
        return decision

    @staticmethod
    def record_gate(
        session: Session, decision: GateDecision, *, brand: str, phone: str, at: datetime
    ) -> None:
        """Add the gate's decision on a text to the caller's transaction (the audit trail of
        every outbound decision), for a caller that commits what it does with it alongside."""
        session.add(
            ComplianceDecision(
                brand=brand,
                phone_e164=phone,
                direction="outbound",
                outcome="allowed" if decision.allowed else "blocked",
                rule=decision.rule,
                ruleset_version=decision.ruleset_version,
                occurred_at=at,
                decided_at=clock.now(),
                decision=_json(decision.model_dump(mode="json")),
            )
        )

    def record(
        self,
        event_type: EventType,
        *,
        phone: str,
        at: datetime,
        brand: str | None = None,
        scope: Scope | None = None,
        category: Category | None = None,
        channel: Channel = "api",
        source: str | None = None,
        actor: str = "system",
        provider_message_id: str | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> int:
        """Append one event: consent capture, a sent message, a confirmation, an override.

        An event that ends consent cancels the number's unsent texts in the same commit, under
        the contact lock (IN-2), like a STOP. Returns how many texts that cancelled.
        """
        brand, phone = brand or self.settings.brand_id, parse_e164(phone)
        ends_consent = event_type in REVOCATION_EVENTS or (
            event_type in ("scope_change", "human_override")
            and (evidence or {}).get("status", "subscribed") != "subscribed"
        )
        lock = contact_lock(self.ledger.engine, brand, phone) if ends_consent else nullcontext()
        with lock, self.ledger.session() as session:
            self._append(
                session,
                event_type,
                phone=phone,
                at=at,
                brand=brand,
                scope=scope,
                category=category,
                channel=channel,
                source=source,
                actor=actor,
                provider_message_id=provider_message_id,
                evidence=evidence,
            )
            cancelled = 0
            if ends_consent:
                cancelled = cancel_unsent(
                    session,
                    brand=brand,
                    phone=phone,
                    reason=f"{event_type} ({source or channel})",
                    marketing_only=scope == "marketing",
                )
            session.commit()
        return cancelled

    def record_sent(
        self,
        session: Session,
        *,
        phone: str,
        at: datetime,
        brand: str,
        category: Category,
        provider_message_id: str,
        confirmation: bool = False,
    ) -> None:
        """Append a sent text (and, for a STOP's confirmation, `confirmation_sent`) to the
        caller's transaction, which records the send itself: whoever sees the text as sent
        finds it in the customer's consent history (QH-3's counts, IN-7's one reply)."""
        events: tuple[EventType, ...] = ("message_sent",)
        if confirmation:
            events += ("confirmation_sent",)
        for event_type in events:
            self._append(
                session,
                event_type,
                phone=parse_e164(phone),
                at=at,
                brand=brand,
                category=category if event_type == "message_sent" else None,
                channel="sms",
                provider_message_id=provider_message_id,
            )

    def _append(
        self,
        session: Session,
        event_type: EventType,
        *,
        phone: str,
        at: datetime,
        brand: str,
        scope: Scope | None = None,
        category: Category | None = None,
        channel: Channel = "api",
        source: str | None = None,
        actor: str = "system",
        provider_message_id: str | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> None:
        """One event of `record`'s kind (effective at `at`) into the caller's transaction."""
        self.ledger.append(
            session,
            ruleset_version=ruleset_version(),
            brand=brand,
            phone_e164=phone,
            event_type=event_type,
            scope=scope,
            category=category,
            channel=channel,
            source=source,
            actor=actor,
            provider_message_id=provider_message_id,
            effective_at=at,
            evidence=evidence or {},
        )

    def record_inbound_seen(self, *, phone: str, at: datetime, brand: str | None = None) -> None:
        """Note that the customer texted at `at` without classifying a body (replayed history)."""
        self.process_inbound(phone=phone, body="", received_at=at, brand=brand)

    def ai_opt_out(
        self,
        *,
        phone: str,
        reason: str,
        evidence: str,
        received_at: datetime,
        provider_message_id: str | None = None,
        brand: str | None = None,
    ) -> InboundDecision:
        """SPEC §7 AI-1: the AI found a revocation the rules missed; honour it like any other."""
        brand = brand or self.settings.brand_id
        with (
            contact_lock(self.ledger.engine, brand, parse_e164(phone)),
            self.ledger.session() as session,
        ):
            before = self.ledger.consent(session, brand=brand, phone=parse_e164(phone)).state
            # A job re-run after a crash asks again for the same text: one event per text.
            if provider_message_id is None or not self.ledger.has_event(
                session,
                brand=brand,
                event_type="ai_detected_revocation",
                provider_message_id=provider_message_id,
            ):
                self.ledger.append(
                    session,
                    ruleset_version=ruleset_version(),
                    brand=brand,
                    phone_e164=parse_e164(phone),
                    event_type="ai_detected_revocation",
                    scope="all",
                    channel="sms",
                    source="ai:second_pass",
                    provider_message_id=provider_message_id,
                    received_at=received_at,
                    actor="ai",
                    evidence={"reason": storable(reason), "evidence": storable(evidence)},
                )
            cancel_unsent(
                session, brand=brand, phone=parse_e164(phone), reason="AI read an opt-out (AI-1)"
            )
            session.commit()
        return InboundDecision(
            action="opt_out",
            new_state="opted_out",
            state_changed=before.status != "opted_out" or before.scope != "all",
            reply="opt_out_confirmation",
            forward_to_ai=False,
            keyword=None,
            phrase_id=None,
            match="ai",
            reply_language="en",
            scope="all",
            handoff=True,
            safety_escalation=False,
            ambiguous=True,
            reply_policy=None,
            ruleset_version=ruleset_version(),
            normalised_text="",
        )


def _event_type(decision: InboundDecision) -> EventType | None:
    if decision.action == "opt_out":
        return "revocation_phrase" if decision.match == "phrase" else "opt_out"
    if decision.action == "opt_in":
        return "opt_in"
    if decision.action == "help":
        return "help_request"
    return None


def _json(value: dict[str, Any]) -> dict[str, Any]:
    """Decision JSON with unstorable characters replaced (PostgreSQL rejects NUL in JSON)."""
    return {k: storable(v) if isinstance(v, str) else v for k, v in value.items()}


__all__ = ["Compliance", "policy_from", "storable"]
