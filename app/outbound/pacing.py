"""Throughput limits at send time: texts per second per sending number and per campaign.

Carriers take about one segment a second from a long code (10DLC campaigns get more: up to 75
a second on the top tier), and filter or drop what comes faster. So every text a number hands
to the provider takes a slot of the number's limit, and a campaign's texts a slot of the
campaign's limit too. A text with no free slot waits: its send job runs again a moment later
(`NotYet`), still `queued`, so it is never dropped, and the message's status check makes it
never sent twice.

Compliance confirmations (STOP/START/HELP answers, `COMPLIANCE_PURPOSES`) never wait: they are
due within minutes (TIME-2) and rare, so they go at once and only count against the number's
limit. Safety texts to a customer in danger never wait either. Counters live in the `limits`
library's storage: memory in the embedded (one-process) mode, redis when several workers send.
The default is one text a second per number with Twilio, and no limit with the console provider
(no carrier behind it); `SMSDESK_SEND_RATE_PER_NUMBER` / `..._PER_CAMPAIGN` set them.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.errors import ConfigurationError
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.config import Settings
from app.errors import ConfigurationError as SmsdeskConfigurationError

MIN_WAIT_SECONDS = 0.05
"""The shortest wait before a paced text tries again (a lost race for the last slot)."""
LONG_CODE_RATE = "1/second"
"""About one segment a second: what carriers accept from a long code (the Twilio default)."""


@dataclass
class SendPacer:
    """Slots per sending number and per campaign, taken just before a text goes out."""

    per_number: RateLimitItem | None
    per_campaign: RateLimitItem | None
    storage: Storage

    def __post_init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(self.storage)

    @classmethod
    def from_settings(cls, settings: Settings) -> SendPacer | None:
        """The limits the settings describe (None: no limit applies)."""
        number = settings.send_rate_per_number
        if number is None and settings.sms_provider == "twilio":
            number = LONG_CODE_RATE
        campaign = settings.send_rate_per_campaign
        if number is None and campaign is None:
            return None
        return cls(
            per_number=parse(number) if number is not None else None,
            per_campaign=parse(campaign) if campaign is not None else None,
            storage=_storage(settings.send_rate_storage_url),
        )

    def feed_rate(self) -> float | None:
        """Texts per second a campaign can go at: the smaller of its limits (None: no limit)."""
        rates = [_per_second(i) for i in (self.per_number, self.per_campaign) if i is not None]
        return min(rates) if rates else None

    def wait(self, *, number: str, campaign_id: uuid.UUID | None) -> float:
        """Seconds until a slot is free for this text (0: free now); takes nothing."""
        limits = self._limits(number, campaign_id)
        return max((self._wait(item, kind, key) for item, kind, key in limits), default=0.0)

    def take(self, *, number: str, campaign_id: uuid.UUID | None) -> bool:
        """Take a slot of each limit that applies; False (and nothing taken) when another text
        took the last one since `wait` said it was free."""
        limits = self._limits(number, campaign_id)
        if not all(self._limiter.test(item, kind, key) for item, kind, key in limits):
            return False
        return all([self._limiter.hit(item, kind, key) for item, kind, key in limits])

    def count(self, *, number: str) -> None:
        """Count a text that never waits (a compliance confirmation) against its number."""
        if self.per_number is not None:
            self._limiter.hit(self.per_number, "number", number)

    def _limits(
        self, number: str, campaign_id: uuid.UUID | None
    ) -> list[tuple[RateLimitItem, str, str]]:
        found: list[tuple[RateLimitItem, str, str]] = []
        if self.per_number is not None:
            found.append((self.per_number, "number", number))
        if self.per_campaign is not None and campaign_id is not None:
            found.append((self.per_campaign, "campaign", str(campaign_id)))
        return found

    def _wait(self, item: RateLimitItem, kind: str, key: str) -> float:
        if self._limiter.test(item, kind, key):
            return 0.0
        stats = self._limiter.get_window_stats(item, kind, key)
        # limits keeps its windows on the wall clock (time.time), so the wait is measured there.
        return max(MIN_WAIT_SECONDS, stats.reset_time - time.time())


def _storage(url: str) -> Storage:
    try:
        storage = storage_from_string(url)
    except (ConfigurationError, ValueError) as exc:
        raise SmsdeskConfigurationError(f"SMSDESK_SEND_RATE_STORAGE_URL {url!r}: {exc}") from None
    if not isinstance(storage, Storage):
        raise SmsdeskConfigurationError(
            f"SMSDESK_SEND_RATE_STORAGE_URL {url!r} is an asyncio storage; use memory:// or redis://"
        )
    return storage


def _per_second(item: RateLimitItem) -> float:
    return float(item.amount) / item.get_expiry()


def sending_number(brand: str, business_number: str | None) -> str:
    """The key of a sending number's limit (the provider's default sender when unset)."""
    return f"{brand}:{business_number or 'default'}"
