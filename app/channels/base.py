"""What crosses the channel edge: inbound texts, outbound sends, and the `Sender` protocol."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from app.media.store import StoredFile


@dataclass(frozen=True, slots=True)
class Media:
    """One MMS attachment."""

    url: str
    content_type: str
    upload: StoredFile | None = None
    """A picture already stored here (the simulator's upload): nothing to fetch."""


@dataclass(frozen=True, slots=True)
class InboundSms:
    """A text a customer sent us, as any provider reports it."""

    provider: str
    provider_message_id: str
    from_number: str
    to_number: str
    body: str
    received_at: datetime
    media: tuple[Media, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboundSms:
    """A text we are about to hand to the provider."""

    message_id: uuid.UUID
    to_number: str
    body: str
    idempotency_key: str
    """Stable across retries of the same message: a provider that honours it cannot double-send."""
    from_number: str | None = None
    status_callback: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    media_urls: tuple[str, ...] = ()
    """Public URLs of the pictures to send with the text (the provider fetches them)."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """The provider accepted the message."""

    provider_message_id: str
    status: str = "sent"
    """queued | sent: what the provider said at acceptance."""


class Sender(Protocol):
    """Hands texts to an SMS provider. Raises `ProviderError` (with `.retryable`) on failure."""

    name: str

    def send(self, sms: OutboundSms) -> SendResult:
        """Send one text; must not raise for a text the provider accepted."""
        ...
