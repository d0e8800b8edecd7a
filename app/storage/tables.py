"""SQLModel tables. Consent events and compliance decisions are append-only (SPEC §11 REC-1)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Index, SmallInteger, Text, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from app.storage.types import UtcDateTime

APPEND_ONLY_TABLES = ("consent_events", "compliance_decisions", "audit_log")


class ConsentEvent(SQLModel, table=True):
    """One fact about a customer's consent; current state is derived by folding these in order.

    Rows are never updated or deleted (the database rejects it); a correction is a new event.
    """

    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_contact", "brand", "phone_e164", "seq"),)

    seq: int | None = Field(default=None, primary_key=True)
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4, unique=True)
    ruleset_version: str = Field(max_length=64)
    brand: str = Field(max_length=64)
    phone_e164: str = Field(max_length=20)
    event_type: str = Field(max_length=32)
    scope: str | None = Field(default=None, max_length=16)
    category: str | None = Field(default=None, max_length=16)
    channel: str = Field(default="sms", max_length=16)
    source: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, sa_column=Column(Text))
    provider_message_id: str | None = Field(default=None, max_length=128)
    normalised_text: str | None = Field(default=None, sa_column=Column(Text))
    rule: str | None = Field(default=None, max_length=32)
    keyword: str | None = Field(default=None, max_length=32)
    received_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    processed_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    effective_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    related_event_id: uuid.UUID | None = None
    actor: str = Field(default="system", max_length=100)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ComplianceDecision(SQLModel, table=True):
    """Every decision the compliance layer made, with the ruleset that made it (ARCH-4)."""

    __tablename__ = "compliance_decisions"
    __table_args__ = (
        # IN-10: one decision per provider message, whatever the webhook retries.
        UniqueConstraint("brand", "direction", "provider_message_id", name="uq_decision_message"),
        Index("ix_compliance_decisions_contact", "brand", "phone_e164", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    decision_id: uuid.UUID = Field(default_factory=uuid.uuid4, unique=True)
    brand: str = Field(max_length=64)
    phone_e164: str = Field(max_length=20)
    direction: str = Field(max_length=8)
    provider_message_id: str | None = Field(default=None, max_length=128)
    outcome: str = Field(max_length=32)
    rule: str = Field(max_length=48)
    ruleset_version: str = Field(max_length=64)
    occurred_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    decided_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    decision: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Conversation(SQLModel, table=True):
    """One customer's thread with one brand (the ordering key of its messages)."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("brand", "phone_e164", name="uq_conversation_contact"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    brand: str = Field(max_length=64)
    phone_e164: str = Field(max_length=20)
    business_number: str | None = Field(default=None, max_length=20)
    status: str = Field(default="bot", max_length=16)
    """bot | human (waiting or owned by an agent) | closed."""
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    last_inbound_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    last_outbound_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))


class Message(SQLModel, table=True):
    """A text in either direction, with where it stands now (history in message_status)."""

    __tablename__ = "messages"
    __table_args__ = (
        # Ingress idempotency lives in the database: a retried webhook cannot insert twice.
        UniqueConstraint("provider", "provider_message_id", name="uq_message_provider_id"),
        UniqueConstraint("idempotency_key", name="uq_message_idempotency_key"),
        Index("ix_messages_conversation", "conversation_id", "created_at"),
        Index("ix_messages_due", "status", "send_after"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id")
    direction: str = Field(max_length=8)
    provider: str = Field(max_length=16)
    provider_message_id: str | None = Field(default=None, max_length=64)
    idempotency_key: str | None = Field(default=None, max_length=128)
    body: str = Field(sa_column=Column(Text, nullable=False))
    media: list[dict[str, str]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    category: str | None = Field(default=None, max_length=16)
    purpose: str | None = Field(default=None, max_length=32)
    """Outbound: opt_out_confirmation | opt_in_confirmation | help | reply | agent | api."""
    segments: int | None = None
    encoding: str | None = Field(default=None, max_length=8)
    status: str = Field(max_length=16)
    status_reason: str | None = Field(default=None, sa_column=Column(Text))
    error_code: str | None = Field(default=None, max_length=16)
    attempts: int = 0
    send_after: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    """Outbound: give up after this instant (TIME-2: a confirmation is due within 5 minutes)."""
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    urgent: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    """Outbound: an urgent transactional text (QH-5), judged as urgent again at send time."""
    campaign_id: uuid.UUID | None = Field(default=None, index=True)
    """Outbound: the bulk send it belongs to (paced by the campaign's throughput limit too)."""


class MessageStatus(SQLModel, table=True):
    """One step in a message's life: received, queued, sent, delivered, failed, ..."""

    __tablename__ = "message_status"
    __table_args__ = (Index("ix_message_status_message", "message_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: uuid.UUID = Field(foreign_key="messages.id")
    status: str = Field(max_length=16)
    detail: str | None = Field(default=None, sa_column=Column(Text))
    error_code: str | None = Field(default=None, max_length=16)
    at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class Job(SQLModel, table=True):
    """Durable work for the embedded engine; jobs of one key run one at a time, in id order."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_ready", "state", "priority", "id"),
        Index("ix_jobs_key", "key", "state", "id"),
        UniqueConstraint("dedupe_key", name="uq_jobs_dedupe"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    key: str = Field(max_length=100)
    """Ordering key: one conversation ("brand|+1212...")."""
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    dedupe_key: str | None = Field(default=None, max_length=150)
    priority: int = Field(
        default=0, sa_column=Column(SmallInteger, nullable=False, server_default="0")
    )
    """Higher runs first across conversations (opt-outs); within one key, id order rules."""
    state: str = Field(default="pending", max_length=12)
    """pending | running | done | failed."""
    run_after: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    attempts: int = 0
    locked_by: str | None = Field(default=None, max_length=64)
    locked_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class HandoffItem(SQLModel, table=True):
    """A conversation waiting for a person, with why (the console issue builds on this)."""

    __tablename__ = "handoff_queue"
    __table_args__ = (
        Index("ix_handoff_open", "status", "priority", "created_at"),
        Index("ix_handoff_conversation", "conversation_id", "status"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id")
    message_id: uuid.UUID | None = Field(default=None, foreign_key="messages.id")
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    priority: int = 50
    status: str = Field(default="open", max_length=12)
    """open | claimed (an agent owns it) | resolved."""
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    assigned_to: uuid.UUID | None = Field(default=None, foreign_key="agents.id")
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    outcome: str | None = Field(default=None, max_length=32)
    team: str | None = Field(default=None, max_length=64)
    """The team whose agents should take it (None: anyone on the brand)."""
    due_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    """When the first human response is due (the SLA, counted in business hours)."""
    first_response_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    snoozed_until: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    requeued_from: uuid.UUID | None = Field(default=None, foreign_key="agents.id")
    """The agent it was last taken back from for not replying in time (routing, issue 16)."""


class OutboxEntry(SQLModel, table=True):
    """What the console provider "sent": the embedded default's stand-in for a real SMS API."""

    __tablename__ = "console_outbox"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=128, unique=True)
    to_number: str = Field(max_length=20)
    from_number: str | None = Field(default=None, max_length=20)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    media: list[str] | None = Field(default=None, sa_column=Column(JSON))
    """The picture URLs sent with the text (None: none)."""


class MessageMedia(SQLModel, table=True):
    """One picture of a message: an inbound MMS's (fetched after the webhook's answer) or an
    agent's attachment. The file lives under the media directory, named by its sha256."""

    __tablename__ = "message_media"
    __table_args__ = (UniqueConstraint("message_id", "position", name="uq_message_media_position"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    message_id: uuid.UUID = Field(foreign_key="messages.id")
    position: int
    """The index of the attachment in its message (Twilio's MediaUrl<N>)."""
    content_type: str = Field(max_length=100)
    """What the provider declared until fetched; then what the bytes are (image/png ...)."""
    size: int | None = None
    sha256: str | None = Field(default=None, max_length=64)
    storage_key: str | None = Field(default=None, max_length=200)
    """The file's path under the media directory (None until fetched)."""
    source_url: str | None = Field(default=None, sa_column=Column(Text))
    """Where an inbound picture is fetched from (the provider's MediaUrl)."""
    state: str = Field(max_length=8)
    """pending | fetched | failed (`app.media.store.MediaState`)."""
    failure: str | None = Field(default=None, sa_column=Column(Text))
    """Why it was not stored (a type that is not a picture, too large, unreachable)."""
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    fetched_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))


class AiDecision(SQLModel, table=True):
    """What the AI layer saw and decided for one inbound text (for the console and evals)."""

    __tablename__ = "ai_decisions"
    __table_args__ = (Index("ix_ai_decisions_conversation", "conversation_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: uuid.UUID = Field(foreign_key="messages.id", unique=True)
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id")
    action: str = Field(max_length=16)
    """reply | handoff | opt_out | silent."""
    intent: str | None = Field(default=None, max_length=64)
    confidence: float | None = None
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    record: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """Scores, retrieved entries, the draft, guardrail results, mode and model versions."""
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class Agent(SQLModel, table=True):
    """A person who answers customers in the console; created by an admin."""

    __tablename__ = "agents"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    """Always lower-cased, so uniqueness holds whatever the case typed."""
    display_name: str = Field(max_length=100)
    role: str = Field(max_length=16)
    """agent | supervisor | admin."""
    password_hash: str = Field(max_length=255)
    active: bool = True
    brands: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Brand ids whose conversations this agent may see (admins see every brand)."""
    team: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    last_login_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    availability: str = Field(
        default="away", max_length=8, sa_column_kwargs={"server_default": "away"}
    )
    """online | away: whether automatic assignment may give this agent items (they say so)."""
    capacity: int | None = None
    """At most this many claimed items before auto-assignment skips them (None: the default)."""
    route_turn: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """Round-robin order: raised past every other agent's each time they are auto-assigned."""


class AgentSession(SQLModel, table=True):
    """A signed-in console session; only a hash of the cookie's token is stored."""

    __tablename__ = "agent_sessions"
    __table_args__ = (Index("ix_agent_sessions_agent", "agent_id"),)

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    agent_id: uuid.UUID = Field(foreign_key="agents.id")
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    ip: str | None = Field(default=None, max_length=64)


class AuditEntry(SQLModel, table=True):
    """One thing an agent (or someone trying to be one) did; rows are never changed."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_action_at", "action", "at"),
        Index("ix_audit_log_agent", "agent_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    agent_id: uuid.UUID | None = Field(default=None, foreign_key="agents.id")
    action: str = Field(max_length=48)
    target: str | None = Field(default=None, max_length=254)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    ip: str | None = Field(default=None, max_length=64)


class ConversationNote(SQLModel, table=True):
    """An internal note an agent left on a conversation; never sent, never changed."""

    __tablename__ = "conversation_notes"
    __table_args__ = (Index("ix_conversation_notes_conversation", "conversation_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id")
    agent_id: uuid.UUID = Field(foreign_key="agents.id")
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class SignInAttempts(SQLModel, table=True):
    """Sign-in attempts counted in a fixed window per key (client, client and address, ...).

    Incremented atomically before a password is checked, so parallel guesses cannot all
    slip under the limit; `refused_before` carries the last window's refused attempts into
    the audit log as one row.
    """

    __tablename__ = "sign_in_attempts"

    key: str = Field(primary_key=True, max_length=400)
    window_start: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    attempts: int = Field(default=0)
    refused_before: int = Field(default=0)


class WorkerHeartbeat(SQLModel, table=True):
    """A process that runs jobs says it is alive, and how its AI layer stands (/healthz)."""

    __tablename__ = "worker_heartbeats"

    node: str = Field(primary_key=True, max_length=200)
    """host:pid of the worker process."""
    mode: str = Field(max_length=16)
    """inprocess | procrastinate: the execution mode it runs jobs for."""
    ai: str = Field(sa_column=Column(Text, nullable=False))
    """off | loading | ready | failed: <reason>."""
    started_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    beat_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class FlowRun(SQLModel, table=True):
    """One flow sent to one customer: where it stands, and every answer it took (issue 14).

    At most one run per conversation is `active` (a new run supersedes the old one), so an
    inbound text is read against one question at most.
    """

    __tablename__ = "flow_runs"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    brand: str = Field(max_length=64)
    phone_e164: str = Field(max_length=20, index=True)
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", index=True)
    flow: str = Field(max_length=48, index=True)
    node: str | None = Field(default=None, max_length=32)
    """The question waiting for an answer; None once the run is finished."""
    status: str = Field(default="active", max_length=16)
    """active | completed | handed_off | expired | opted_out | cancelled."""
    outcome: str | None = Field(default=None, max_length=32)
    variables: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    answers: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    """Every answer taken: {node, option, text, at}."""
    unrecognised: int = 0
    """Unrecognised replies to the current question (a person takes over after the flow's N)."""
    campaign_id: uuid.UUID | None = Field(default=None, index=True)
    source: str = Field(max_length=16)
    """api | cli | console | bulk | survey."""
    idempotency_key: str = Field(max_length=128, unique=True)
    started_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    first_reply_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    """When the waiting question stops accepting answers."""


class CustomerRecord(SQLModel, table=True):
    """A customer of one brand, found by the number on file (the built-in customer context;
    filled by `smsdesk context import` or the demo seed)."""

    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("brand", "phone_e164", name="uq_customer_contact"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    brand: str = Field(max_length=64)
    phone_e164: str = Field(max_length=20)
    name: str = Field(default="", max_length=200)
    language: str = Field(default="en", max_length=8)
    email: str | None = Field(default=None, max_length=254)
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class Contact(SQLModel, table=True):
    """What agents know about a customer of one brand: name, notes, tags, language (issue 16).

    A table of its own rather than more columns on `customers`: those rows are the business's
    records (replaced by every `smsdesk context import`, unused when SMSDESK_CONTEXT_URL names
    the business's own system), and a row there makes the AI answer account questions from
    it (`covers`). An agent's edit would be overwritten by the next import, or would switch
    the AI on for a brand with no records. The name the console shows is decided in one place,
    `app.handoff.contacts.SHOWN_NAME`: this row's name, else the imported record's.
    """

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("brand", "phone_e164", name="uq_contacts_contact"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    brand: str = Field(max_length=64)
    phone_e164: str = Field(max_length=20)
    name: str = Field(default="", max_length=100)
    notes: str = Field(default="", sa_column=Column(Text, nullable=False))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Lower-case words (letters, digits, - and _), searched as `"tag"` in the JSON text."""
    language: str | None = Field(default=None, max_length=16)
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    updated_by: uuid.UUID | None = Field(default=None, foreign_key="agents.id")
    version: int = 1
    """Counts the edits: an edit names the version it was based on, and one based on an older
    version is refused (two agents editing at once: the second is told, not overwritten)."""


class OrderRecord(SQLModel, table=True):
    """One order of a customer; `ref` is the business's order id (e.g. AC10442)."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("brand", "ref", name="uq_order_ref"),
        Index("ix_orders_customer", "customer_id", "placed_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    brand: str = Field(max_length=64)
    customer_id: uuid.UUID = Field(foreign_key="customers.id")
    ref: str = Field(max_length=64)
    status: str = Field(max_length=32)
    items: str = Field(default="", max_length=300)
    placed_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    tracking_url: str | None = Field(default=None, max_length=500)
    carrier: str | None = Field(default=None, max_length=64)
    eta: date | None = None


class AppointmentRecord(SQLModel, table=True):
    """One booking of an in-store service; booked and confirmed ones hold their slot."""

    __tablename__ = "appointments"
    __table_args__ = (
        UniqueConstraint("brand", "ref", name="uq_appointment_ref"),
        Index("ix_appointments_customer", "customer_id", "starts_at"),
        Index("ix_appointments_brand_start", "brand", "starts_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    brand: str = Field(max_length=64)
    customer_id: uuid.UUID = Field(foreign_key="customers.id")
    ref: str = Field(max_length=64)
    service: str = Field(max_length=100)
    starts_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    location: str = Field(default="", max_length=200)
    status: str = Field(default="booked", max_length=16)


class SubscriptionRecord(SQLModel, table=True):
    """A customer's membership (one per customer)."""

    __tablename__ = "subscriptions"

    customer_id: uuid.UUID = Field(foreign_key="customers.id", primary_key=True)
    brand: str = Field(max_length=64)
    plan: str = Field(max_length=100)
    status: str = Field(max_length=16)
    renews_on: date | None = None


class Signup(SQLModel, table=True):
    """A customer's signup through a form or an integration, waiting for (or past) its YES.

    Double opt-in records no consent when the signup arrives: the ledger's `consent_captured`
    event is written only when the customer texts YES within the window (SPEC §11 REC-1 keeps
    what the customer was shown here until then). Status `pending` past `expires_at` reads as
    `expired`; the row keeps the evidence either way.
    """

    __tablename__ = "signups"
    __table_args__ = (Index("ix_signups_contact", "brand", "phone_e164", "status"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    idempotency_key: str = Field(max_length=160, unique=True)
    brand: str = Field(max_length=64)
    phone_e164: str = Field(max_length=20)
    mode: str = Field(max_length=8)
    """double | single: whether consent waits for the customer's YES."""
    status: str = Field(max_length=12)
    """pending | confirmed | cancelled | expired (a pending row past `expires_at` is expired)."""
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """What the customer signed up for: marketing and/or transactional."""
    channel: str = Field(max_length=8)
    """web | api | paper | voice: where the customer gave the consent."""
    source: str = Field(max_length=200)
    """The form URL and checkbox id, the app screen, the paper form or call reference."""
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """Disclosure text and version, "not a condition of purchase" text, IP, user agent, ..."""
    requested_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    request_message_id: uuid.UUID | None = Field(default=None, foreign_key="messages.id")
    """The "Reply YES" text (None: single opt-in, or the gate refused it)."""
    request_note: str | None = Field(default=None, max_length=200)
    confirmed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    confirm_provider_message_id: str | None = Field(default=None, max_length=160)
    consent_event_id: uuid.UUID | None = None
    confirmation_message_id: uuid.UUID | None = Field(default=None, foreign_key="messages.id")
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    cancel_reason: str | None = Field(default=None, max_length=200)


class Campaign(SQLModel, table=True):
    """A bulk send of one flow to many recipients, processed in small batches by the job queue."""

    __tablename__ = "campaigns"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    brand: str = Field(max_length=64)
    flow: str = Field(max_length=64)
    name: str = Field(max_length=200)
    category: str = Field(max_length=16)
    """The flow's category when the campaign was created (marketing | transactional)."""
    source: str = Field(max_length=16)
    """cli | api."""
    status: str = Field(max_length=16)
    """running | done."""
    total: int = 0
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))


class CampaignRecipient(SQLModel, table=True):
    """One recipient of a campaign and where it stands: pending, started, skipped or failed.

    Unique per (campaign, number): a number is never in a campaign twice, so it is never
    started twice; its state moves in the same transaction as the flow's start.
    """

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "phone_e164", name="uq_campaign_recipient_phone"),
        Index("ix_campaign_recipients_state", "campaign_id", "state", "line"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: uuid.UUID = Field(foreign_key="campaigns.id")
    line: int
    """The CSV line (or JSON list position, from 1) it came from."""
    phone_e164: str = Field(max_length=20)
    variables: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(max_length=16)
    """pending | started | skipped | failed."""
    reason: str | None = Field(default=None, sa_column=Column(Text))
    """Why skipped or failed (e.g. opted_out, no_marketing_consent, unknown flow)."""
    flow_run_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
