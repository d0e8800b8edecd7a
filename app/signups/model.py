"""What a signup is, as callers hand it in and read it back (issue 14, SPEC §11 REC-1)."""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from app.errors import InvalidInput
from app.signups.texts import SignupCategory

SignupChannel = Literal["web", "api", "paper", "voice"]
SignupStatus = Literal["pending", "confirmed", "cancelled", "expired"]
SignupMode = Literal["double", "single"]
MAX_SOURCE_CHARS = 200
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
"""What no database stores (PostgreSQL refuses NUL in text and JSON)."""
"""The ledger's `source` column: the form URL and checkbox id must fit it together."""


class SignupRefused(InvalidInput):
    """A signup that smsdesk will not take now (too many requests to one number today)."""

    code = "signup_refused"


@dataclass(frozen=True, slots=True)
class SignupRequest:
    """A customer's signup as the business's form, app or agent captured it."""

    phone: str
    """E.164 (already parsed)."""
    brand: str
    categories: tuple[SignupCategory, ...]
    channel: SignupChannel
    disclosure_text: str
    """The exact consent wording the customer was shown (or read, on a call)."""
    disclosure_version: str
    not_a_condition_of_purchase: str | None = None
    """The "consent is not a condition of purchase" wording shown (required for marketing)."""
    form_url: str | None = None
    checkbox_id: str | None = None
    reference: str | None = None
    """Paper form scan, call recording or script id, app screen: where else it is on file."""
    ip: str | None = None
    user_agent: str | None = None
    submitted_at: datetime | None = None
    """When the customer submitted the form (the business's clock), if it says."""
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        _check(self)

    @property
    def source(self) -> str:
        """The ledger's `source`: the form URL and checkbox, or the channel and reference."""
        if self.channel == "web":
            assert self.form_url is not None
            return self.form_url + (f" checkbox:{self.checkbox_id}" if self.checkbox_id else "")
        return f"{self.channel}:{self.reference}" if self.reference else self.channel

    def evidence(self) -> dict[str, str | list[str] | None]:
        """What REC-1 keeps for a consent capture, as the ledger event's evidence."""
        return {
            "disclosure_text": self.disclosure_text,
            "disclosure_version": self.disclosure_version,
            "not_a_condition_of_purchase": self.not_a_condition_of_purchase,
            "form_url": self.form_url,
            "checkbox_id": self.checkbox_id,
            "reference": self.reference,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "submitted_at": self.submitted_at.isoformat() if self.submitted_at else None,
            "categories": sorted(self.categories),
        }


def _check(request: SignupRequest) -> None:
    """One clear message per bad field (the API answers it with 400)."""
    for name, value in _texts(request):
        if _UNSTORABLE.search(value):
            raise InvalidInput(f"{name}: contains a NUL or an unpaired surrogate character")
    if not request.categories:
        raise InvalidInput("categories: name at least one of marketing, transactional")
    if len(set(request.categories)) != len(request.categories):
        raise InvalidInput("categories: a category is named twice")
    if not request.disclosure_text.strip():
        raise InvalidInput("disclosure.text: the exact consent text shown is required (REC-1)")
    if not request.disclosure_version.strip():
        raise InvalidInput("disclosure.version: the version of the consent text is required")
    if (
        "marketing" in request.categories
        and not (request.not_a_condition_of_purchase or "").strip()
    ):
        raise InvalidInput(
            "disclosure.not_a_condition_of_purchase: marketing consent needs the 'consent is not "
            "a condition of purchase' wording the customer was shown (REC-1)"
        )
    if request.channel == "web":
        _check_web(request)
    elif request.channel in ("paper", "voice") and not (request.reference or "").strip():
        raise InvalidInput(
            f"source.reference: a {request.channel} signup needs where it is on file "
            "(form scan, call recording or script id)"
        )
    if request.ip is not None:
        try:
            ipaddress.ip_address(request.ip)
        except ValueError:
            raise InvalidInput(f"ip: {request.ip!r} is not an IP address") from None
    if request.submitted_at is not None and request.submitted_at.tzinfo is None:
        raise InvalidInput("submitted_at: give a time zone (e.g. 2026-12-04T16:00:00Z)")
    if len(request.source) > MAX_SOURCE_CHARS:
        raise InvalidInput(
            f"source: form_url and checkbox_id together exceed {MAX_SOURCE_CHARS} characters"
        )


def _texts(request: SignupRequest) -> list[tuple[str, str]]:
    fields = {
        "disclosure.text": request.disclosure_text,
        "disclosure.version": request.disclosure_version,
        "disclosure.not_a_condition_of_purchase": request.not_a_condition_of_purchase,
        "source.form_url": request.form_url,
        "source.checkbox_id": request.checkbox_id,
        "source.reference": request.reference,
        "user_agent": request.user_agent,
        "idempotency_key": request.idempotency_key,
    }
    return [(name, value) for name, value in fields.items() if value is not None]


def _check_web(request: SignupRequest) -> None:
    url = request.form_url or ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("source.form_url: a web signup needs the form's http(s) URL (REC-1)")
    if request.ip is None or not (request.user_agent or "").strip():
        raise InvalidInput("ip, user_agent: a web signup needs the submitter's IP and user agent")


@dataclass(frozen=True, slots=True)
class SignupView:
    """A signup as the API and the CLI show it."""

    id: uuid.UUID
    brand: str
    phone: str
    mode: SignupMode
    status: SignupStatus
    categories: tuple[str, ...]
    channel: str
    source: str
    requested_at: datetime
    expires_at: datetime | None
    request_sent: bool
    request_note: str | None
    confirmed_at: datetime | None
    consent_event_id: uuid.UUID | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    duplicate: bool = False
    """Returned for a signup posted again: nothing new was recorded or sent."""
