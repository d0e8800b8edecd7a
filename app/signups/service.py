"""Signups: double opt-in (the default) and single opt-in, on the consent ledger.

Double opt-in: the signup is stored with what the customer was shown, a "Reply YES" text goes
out through the send-time gate, and nothing is written to the consent ledger. Only the
customer's YES from that phone, inside the window, writes `consent_captured` (SPEC §11 REC-1:
disclosure text and version, source, IP and user agent, the request and confirmation times and
the YES's provider message id) and sends the opt-in confirmation (§8.3), once.

A number with a standing opt-out never gets consent from a form alone (single opt-in falls back
to double), and the gate refuses it the "Reply YES" text (QH-7): the signup waits for the
customer to text YES themselves, which the compliance layer reads as an opt-in (§4) and this
module as the confirmation. See docs/compliance.md ("Signups") for the reasoning.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app import clock, log
from app.compliance import Brand, Compliance, GateRequest, InboundDecision, classify
from app.compliance.contact_lock import contact_lock
from app.compliance.ledger import ConsentLedger
from app.compliance.lexicon import ruleset_version
from app.compliance.model import OPTED_OUT
from app.compliance.service import storable
from app.config import Settings
from app.outbound.send import queue_outbound
from app.signups.model import (
    SignupMode,
    SignupRefused,
    SignupRequest,
    SignupStatus,
    SignupView,
)
from app.signups.store import (
    by_key,
    derived_key,
    pending,
    repeats,
    revoked_since,
    scope_and_category,
)
from app.signups.texts import SignupCategory, signup_text
from app.storage.messages import get_or_create_conversation
from app.storage.tables import Conversation, Message, Signup

REQUEST_PURPOSE = "signup_request"
_logger = log.get_logger("signups")


class Signups:
    """Takes signups, confirms them on the customer's YES, and reports where they stand."""

    def __init__(
        self, engine: Engine, compliance: Compliance, settings: Settings, *, provider: str
    ) -> None:
        self.engine = engine
        self.compliance = compliance
        self.settings = settings
        self.provider = provider
        self.brand = Brand.from_settings(settings)

    # --- taking a signup -------------------------------------------------------------------

    def create(self, request: SignupRequest) -> SignupView:
        """Store a signup and send what its mode calls for; a repeat returns the first one."""
        now = clock.now()
        key = request.idempotency_key or derived_key(request)
        with Session(self.engine, expire_on_commit=False) as session:
            existing = by_key(session, key)
            if existing is not None and repeats(existing, request, now):
                return self._view(session, existing, duplicate=True)
        # Under the number's contact lock (taken before any transaction, see contact_lock): an
        # opt-out cannot slip between reading consent and capturing it (single opt-in).
        with contact_lock(self.engine, request.brand, request.phone):
            return self._create_locked(request, key, now)

    def _create_locked(self, request: SignupRequest, key: str, now: datetime) -> SignupView:
        # Everything read before anything is written: the gate reads in its own session.
        consent = self.compliance.consent(request.phone, brand=request.brand)
        opted_out = consent.state.status == "opted_out"
        # A form alone never overrides a standing opt-out: the customer's own YES must.
        mode: SignupMode = "double" if opted_out else self.settings.signup_mode
        request_text = signup_text("request", categories=request.categories, brand=self.brand)
        gate_note: str | None = None
        if mode == "double":
            gate_note = self._gate_note(request.phone, request.brand, request_text, now)
        try:
            return self._store(request, key, mode, request_text, gate_note, now)
        except IntegrityError:
            with Session(self.engine, expire_on_commit=False) as session:
                existing = by_key(session, key)
                if existing is None:
                    raise
                return self._view(session, existing, duplicate=True)

    def _gate_note(self, phone: str, brand: str, body: str, now: datetime) -> str | None:
        """Why the "Reply YES" text can never go now (None: it may, now or later)."""
        decision = self.compliance.check_outbound(
            GateRequest(phone, now, "transactional"), body=body, brand=brand, record=False
        )
        if decision.allowed or decision.next_allowed_utc is not None:
            return None
        return f"not sent: {decision.rule} ({'; '.join(decision.reasons)})"[:200]

    def _store(
        self,
        request: SignupRequest,
        key: str,
        mode: SignupMode,
        request_text: str,
        gate_note: str | None,
        now: datetime,
    ) -> SignupView:
        with Session(self.engine, expire_on_commit=False) as session:
            existing = by_key(session, key)
            if existing is not None and repeats(existing, request, now):
                return self._view(session, existing, duplicate=True)  # posted meanwhile
            if existing is not None:
                # An old signup with the same derived key: keep it, free the key.
                existing.idempotency_key = f"{key}:{existing.id}"
                session.add(existing)
            signup = Signup(
                idempotency_key=key,
                brand=request.brand,
                phone_e164=request.phone,
                mode=mode,
                status="pending",
                categories=sorted(request.categories),
                channel=request.channel,
                source=request.source,
                evidence=request.evidence(),
                requested_at=now,
            )
            self._close_pending(
                session, request.brand, request.phone, now, f"superseded by {signup.id}"
            )
            conversation = get_or_create_conversation(
                session, brand=request.brand, phone=request.phone
            )
            if mode == "single":
                self._capture(session, signup, conversation, now=now, reply=None)
            else:
                signup.expires_at = now + timedelta(hours=self.settings.signup_confirm_window_hours)
                if gate_note is None:
                    self._check_daily_cap(session, request.brand, request.phone, now)
                    message = queue_outbound(
                        session,
                        conversation=conversation,
                        body=request_text,
                        category="transactional",
                        purpose=REQUEST_PURPOSE,
                        idempotency_key=f"{REQUEST_PURPOSE}:{signup.id}",
                        provider=self.provider,
                    )
                    signup.request_message_id = message.id
                signup.request_note = gate_note
                session.add(signup)
            session.commit()
            _logger.info("signups.created", mode=mode, request_sent=gate_note is None)
            return self._view(session, signup)

    def _check_daily_cap(self, session: Session, brand: str, phone: str, now: datetime) -> None:
        sent = session.exec(
            select(func.count())
            .select_from(Signup)
            .where(
                Signup.brand == brand,
                Signup.phone_e164 == phone,
                col(Signup.request_message_id).is_not(None),
                col(Signup.requested_at) > now - timedelta(hours=24),
            )
        ).one()
        if sent >= self.settings.signup_requests_per_day:
            raise SignupRefused(
                f"{phone} was already sent {sent} signup requests in the last 24 hours "
                f"(SMSDESK_SIGNUP_REQUESTS_PER_DAY={self.settings.signup_requests_per_day})"
            )

    def _close_pending(
        self, session: Session, brand: str, phone: str, now: datetime, reason: str
    ) -> None:
        """One signup waits per number: a new one supersedes it (an old one has expired)."""
        for old in pending(session, brand, phone):
            if old.expires_at is not None and now > old.expires_at:
                old.status = "expired"
            else:
                old.status, old.cancelled_at, old.cancel_reason = "cancelled", now, reason
            session.add(old)

    # --- the customer's YES ----------------------------------------------------------------

    def confirmed_by(
        self,
        *,
        brand: str,
        phone: str,
        body: str,
        decision: InboundDecision,
        received_at: datetime,
    ) -> uuid.UUID | None:
        """The pending signup this inbound text confirms, if it is a YES that does (no AI).

        YES is the opt-in keyword of §4, read exactly as the compliance layer reads it (a whole
        message, fillers and punctuation aside: "yes", "Yes!", "yes please"); "y", "yeah" or
        "yes sign me up" are not (IN-5). A signup confirms only inside its window and only if
        the number has not opted out since it was requested.
        """
        if decision.action not in ("pass", "opt_in") or not self._is_yes(body, decision):
            return None
        with Session(self.engine) as session:
            rows = pending(session, brand, phone)
            signup = rows[-1] if rows else None
            if (
                signup is None
                or signup.requested_at > received_at
                or (signup.expires_at is not None and received_at > signup.expires_at)
                or revoked_since(session, brand, phone, signup.requested_at) is not None
            ):
                return None
            return signup.id

    def _is_yes(self, body: str, decision: InboundDecision) -> bool:
        if decision.action == "opt_in":
            return decision.keyword == "YES"
        # While subscribed, §6 Tier 1 passes YES on; read it as the opted-out would be read.
        as_opt_in = classify(
            body, state=OPTED_OUT, received_at=clock.now(), policy=self.compliance.policy
        )
        return as_opt_in.action == "opt_in" and as_opt_in.keyword == "YES"

    def confirm(
        self,
        session: Session,
        signup_id: uuid.UUID,
        *,
        message: Message,
        conversation: Conversation,
        provider_replied: bool = False,
    ) -> bool:
        """Record the consent and queue the opt-in confirmation, in the caller's transaction
        (with the YES's `processed` status); False if the signup is no longer pending.

        `provider_replied`: the provider answers the YES keyword itself (PROV-1 (b)), so
        smsdesk sends no confirmation of its own; its words belong in the provider's settings.
        """
        signup = session.get(Signup, signup_id, with_for_update=True)
        if signup is None or signup.status != "pending":
            return False
        revoked = revoked_since(session, signup.brand, signup.phone_e164, signup.requested_at)
        if revoked is not None:  # an opt-out committed since `confirmed_by` looked
            signup.status, signup.cancelled_at = "cancelled", revoked
            signup.cancel_reason = "the customer opted out while it waited"
            session.add(signup)
            return False
        self._capture(
            session, signup, conversation, now=clock.now(), reply=message, send=not provider_replied
        )
        return True

    def _capture(
        self,
        session: Session,
        signup: Signup,
        conversation: Conversation,
        *,
        now: datetime,
        reply: Message | None,
        send: bool = True,
    ) -> None:
        """`consent_captured` with every REC-1 field, and the §8.3 confirmation, once."""
        categories: list[SignupCategory] = list(signup.categories)  # type: ignore[arg-type]
        confirmation = None
        if send:
            confirmation = queue_outbound(
                session,
                conversation=conversation,
                body=signup_text("confirmed", categories=categories, brand=self.brand),
                # The answer to the customer's YES is a reply; single opt-in's a notification.
                category="reply" if reply is not None else "transactional",
                purpose="opt_in_confirmation",
                idempotency_key=(
                    f"opt_in_confirmation:{reply.id}"
                    if reply is not None
                    else f"opt_in_confirmation:signup:{signup.id}"
                ),
                provider=self.provider,
            )
        scope, category = scope_and_category(categories)
        provider_id = f"{reply.provider}:{reply.provider_message_id}" if reply else None
        evidence: dict[str, Any] = {
            **signup.evidence,
            "signup_id": str(signup.id),
            "mode": signup.mode,
            "requested_at": signup.requested_at.isoformat(),
            "confirmed_at": now.isoformat(),
            "act": "replied YES by text" if reply is not None else f"{signup.channel} signup",
            "confirmation_request_message_id": (
                str(signup.request_message_id) if signup.request_message_id else None
            ),
            "confirmation_message_id": str(confirmation.id) if confirmation else None,
            "confirmation_by": "smsdesk" if confirmation else "provider (PROV-1 b)",
        }
        event = ConsentLedger.append(
            session,
            ruleset_version=ruleset_version(),
            brand=signup.brand,
            phone_e164=signup.phone_e164,
            event_type="consent_captured",
            scope=scope,
            category=category,
            channel=signup.channel,
            source=signup.source,
            body=storable(reply.body) if reply is not None else None,
            provider_message_id=provider_id,
            rule=f"{signup.mode}_opt_in",
            keyword="YES" if reply is not None else None,
            received_at=reply.created_at if reply is not None else signup.requested_at,
            processed_at=now,
            evidence=evidence,
        )
        signup.status = "confirmed"
        signup.confirmed_at = now
        signup.confirm_provider_message_id = provider_id
        signup.consent_event_id = event.event_id
        signup.confirmation_message_id = confirmation.id if confirmation else None
        session.add(signup)
        _logger.info("signups.confirmed", mode=signup.mode)

    def cancel_for_opt_out(self, session: Session, *, brand: str, phone: str, reason: str) -> int:
        """A STOP while a signup waits cancels it (in the opt-out's transaction); how many."""
        rows = pending(session, brand, phone)
        for row in rows:
            row.status, row.cancelled_at, row.cancel_reason = "cancelled", clock.now(), reason
            session.add(row)
        return len(rows)

    # --- reading ---------------------------------------------------------------------------

    def get(self, signup_id: uuid.UUID) -> SignupView | None:
        """One signup, its status as of now."""
        with Session(self.engine) as session:
            row = session.get(Signup, signup_id)
            return self._view(session, row) if row is not None else None

    def list(self, *, brand: str, phone: str | None = None, limit: int = 50) -> list[SignupView]:
        """The brand's signups, newest first (optionally one number's)."""
        with Session(self.engine) as session:
            query = select(Signup).where(Signup.brand == brand)
            if phone is not None:
                query = query.where(Signup.phone_e164 == phone)
            rows = session.exec(query.order_by(col(Signup.requested_at).desc()).limit(limit)).all()
            return [self._view(session, row) for row in rows]

    def _view(self, session: Session, row: Signup, *, duplicate: bool = False) -> SignupView:
        status: SignupStatus = row.status  # type: ignore[assignment]
        cancelled_at, reason = row.cancelled_at, row.cancel_reason
        if status == "pending":
            revoked = revoked_since(session, row.brand, row.phone_e164, row.requested_at)
            if revoked is not None:  # an opt-out the STOP hook did not see (AI, carrier)
                status, cancelled_at, reason = "cancelled", revoked, "the number opted out"
            elif row.expires_at is not None and clock.now() > row.expires_at:
                status = "expired"
        return SignupView(
            id=row.id,
            brand=row.brand,
            phone=row.phone_e164,
            mode=row.mode,  # type: ignore[arg-type]
            status=status,
            categories=tuple(row.categories),
            channel=row.channel,
            source=row.source,
            requested_at=row.requested_at,
            expires_at=row.expires_at,
            request_sent=row.request_message_id is not None,
            request_note=row.request_note,
            confirmed_at=row.confirmed_at,
            consent_event_id=row.consent_event_id,
            cancelled_at=cancelled_at,
            cancel_reason=reason,
            duplicate=duplicate,
        )


__all__ = ["REQUEST_PURPOSE", "Signups"]
