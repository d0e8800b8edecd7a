"""Types the compliance layer hands to the rest of smsdesk (SPEC §6.1, §10.1, §11)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Action = Literal["opt_out", "opt_in", "help", "pass"]
Match = Literal["exact", "clause", "phrase", "fuzzy", "residual", "emoji", "ai", "none"]
Status = Literal["subscribed", "opted_out"]
Scope = Literal["all", "marketing"]
ReplyKind = Literal["opt_out_confirmation", "opt_in_confirmation", "help", "resume_instruction"]
ReplyPolicy = Literal["normal", "single_response_no_marketing", "no_reply"]
Category = Literal["marketing", "transactional", "reply"]
Language = Literal["en", "es", "fr"]

CATEGORIES: tuple[Category, ...] = ("marketing", "transactional", "reply")


@dataclass(frozen=True, slots=True)
class ConsentState:
    """Consent of one (brand, phone number), as derived from the ledger."""

    status: Status = "subscribed"
    scope: Scope | None = None
    """What the standing opt-out revoked: everything, or marketing only (SCOPE-2)."""

    def blocks(self, category: Category) -> bool:
        """Whether this state forbids sending a message of `category` (replies: see IN-7)."""
        if self.status == "subscribed" or category == "reply":
            return False
        return self.scope == "all" or category == "marketing"


SUBSCRIBED = ConsentState()
OPTED_OUT = ConsentState("opted_out", "all")


@dataclass(frozen=True, slots=True)
class Policy:
    """The settings that change compliance decisions (kept apart so the rules stay pure)."""

    strict_mode: bool = False
    marketing_only_revocations_until: datetime | None = None
    reply_window_hours: int = 24
    max_reply_chars: int = 320
    governor_holidays: frozenset[str] = frozenset()
    """ISO dates (YYYY-MM-DD) declared no-solicitation days by a governor (QH-9)."""
    own_products: frozenset[tuple[str, ...]] = frozenset()
    """RES-1: the brand's own products and services as normalised tokens ("acme", "club");
    a residual verb aimed at one of them is about the product, not a revocation."""
    marketing_cap: int | None = None
    """The brand's own frequency cap: marketing texts to one number per `marketing_cap_hours`
    (None: only the state caps of QH-3)."""
    marketing_cap_hours: int = 168


class InboundDecision(BaseModel):
    """What an inbound text means for consent (SPEC §6.1): every field is always present."""

    model_config = ConfigDict(frozen=True)

    action: Action
    new_state: Status
    state_changed: bool
    reply: ReplyKind | None
    forward_to_ai: bool
    keyword: str | None
    """Canonical keyword (`OPT-OUT`, `NO MAS`) for keyword, clause, fuzzy and residual matches."""
    phrase_id: str | None
    """Revocation phrase id (`P1`..`P12`) for phrase matches."""
    match: Match
    reply_language: Language
    scope: Scope | None
    handoff: bool
    safety_escalation: bool
    ambiguous: bool
    reply_policy: ReplyPolicy | None
    """For `pass`: how the AI may answer (IN-7); None otherwise."""
    ruleset_version: str
    normalised_text: str


class GateDecision(BaseModel):
    """Whether an outbound message may be sent now, and if not, when (SPEC §10.1 QH-8)."""

    model_config = ConfigDict(frozen=True)

    allowed: bool
    rule: str
    """Why: `within_window`, `outside_window`, `opted_out`, `content_blocked`, ..."""
    next_allowed_utc: str | None
    next_allowed_local: str | None
    category: Category
    time_zones: list[str]
    states: list[str]
    reasons: list[str]
    """Human-readable detail, e.g. which state window or content rule blocked the send."""
    segments: int | None
    encoding: Literal["GSM-7", "UCS-2"] | None
    ruleset_version: str


@dataclass(frozen=True, slots=True)
class GateRequest:
    """An outbound message about to be sent, as the gate sees it (SPEC §10)."""

    to: str
    """Recipient, E.164."""
    send_at: datetime
    """The instant of sending (timezone-aware)."""
    category: Category
    urgent: bool = False
    """Transactional only: fraud alert, an OTP the customer just asked for, safety (QH-5)."""
    last_inbound_at: datetime | None = None
    """The customer's last inbound message to this brand (QH-6, IN-7)."""
    known_state: str | None = None
    """Verified residence state (two letters), in addition to the area code's (QH-2)."""
    verified_time_zone: str | None = None
    """A verified IANA zone on file; it replaces the number's zones (TZ-1)."""


@dataclass(frozen=True, slots=True)
class ContentVerdict:
    """What the content rules (SPEC §12, KW-1) say about a message body."""

    ok: bool
    reasons: tuple[str, ...]
    segments: int
    encoding: Literal["GSM-7", "UCS-2"]
