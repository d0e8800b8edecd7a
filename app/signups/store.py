"""The signups table's queries: one signup by key, a number's pending ones, the revocations
since a signup was asked, and the key a repeated signup shares with the first."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.compliance.ledger import REVOCATION_EVENTS
from app.signups.model import SignupRequest
from app.storage.tables import ConsentEvent, Signup

DUPLICATE_WINDOW = timedelta(hours=24)
"""The same signup (same number, categories, source and disclosure) posted again within this
is the same signup: nothing new is recorded or sent."""


def repeats(existing: Signup, request: SignupRequest, now: datetime) -> bool:
    """Whether `request` is `existing` posted again (an explicit key always is)."""
    return request.idempotency_key is not None or existing.requested_at > now - DUPLICATE_WINDOW


def by_key(session: Session, key: str) -> Signup | None:
    return session.exec(select(Signup).where(Signup.idempotency_key == key)).first()


def pending(session: Session, brand: str, phone: str) -> Sequence[Signup]:
    return session.exec(
        select(Signup)
        .where(Signup.brand == brand, Signup.phone_e164 == phone, Signup.status == "pending")
        .order_by(col(Signup.requested_at))
    ).all()


def revoked_since(session: Session, brand: str, phone: str, since: datetime) -> datetime | None:
    """When the number first opted out after `since`, if it did (one already in force when the
    signup came is why its request was not sent, not a reason to cancel it)."""
    found = session.exec(
        select(func.min(ConsentEvent.effective_at)).where(
            ConsentEvent.brand == brand,
            ConsentEvent.phone_e164 == phone,
            col(ConsentEvent.event_type).in_(REVOCATION_EVENTS),
            col(ConsentEvent.effective_at) > since,
        )
    ).one()
    if found is not None and found.tzinfo is None:  # SQLite's MIN() loses the column type
        found = found.replace(tzinfo=UTC)
    return found


def scope_and_category(categories: Sequence[str]) -> tuple[str | None, str | None]:
    """The ledger's scope (marketing consent is `all` or `marketing`, see `fold`) and category."""
    if set(categories) == {"marketing", "transactional"}:
        return "all", None
    if categories == ["marketing"]:
        return "marketing", "marketing"
    return None, "transactional"


def derived_key(request: SignupRequest) -> str:
    """The same signup, posted twice, gets the same key (IP and user agent aside)."""
    content = json.dumps(
        [
            request.brand,
            request.phone,
            sorted(request.categories),
            request.channel,
            request.source,
            request.disclosure_text,
            request.disclosure_version,
            request.not_a_condition_of_purchase,
        ]
    )
    return "auto:" + hashlib.sha256(content.encode()).hexdigest()[:40]


__all__ = [
    "DUPLICATE_WINDOW",
    "by_key",
    "derived_key",
    "pending",
    "repeats",
    "revoked_since",
    "scope_and_category",
]
