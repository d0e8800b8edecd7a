"""Integrator API keys and the brands each reaches (`SMSDESK_API_KEYS`).

An entry is `key` (every brand) or `key:brand1|brand2` (only those brands); entries are
comma-separated, so a key holds neither `,` nor `:`. `check_api_key` is the one place a
presented key is compared (in constant time) with the configured ones: the routes' dependency
and anything that authenticates before reading a body call it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from app.config import Settings

MAX_BRAND_LENGTH = 64


@dataclass(frozen=True)
class ApiGrant:
    """What a valid key may reach: every brand (`brands` None) or the ones listed."""

    brands: frozenset[str] | None

    def allows(self, brand: str) -> bool:
        """Whether this key reaches `brand`."""
        return self.brands is None or brand in self.brands


def parse_entry(entry: str) -> tuple[str, ApiGrant]:
    """The key and its grant from one `SMSDESK_API_KEYS` entry; ValueError when malformed."""
    key, scoped, brands = entry.strip().partition(":")
    if not key:
        raise ValueError("an SMSDESK_API_KEYS entry has no key before its ':'")
    if not scoped:
        return key, ApiGrant(None)
    names = [name.strip() for name in brands.split("|")]
    if not names or any(not 0 < len(name) <= MAX_BRAND_LENGTH for name in names):
        raise ValueError(
            "SMSDESK_API_KEYS entries are `key` or `key:brand1|brand2` (brand ids of 1 to "
            f"{MAX_BRAND_LENGTH} characters)"
        )
    return key, ApiGrant(frozenset(names))


def check_api_key(settings: Settings, presented: str) -> ApiGrant | None:
    """The grant of the configured key `presented` is, or None (no such key)."""
    given = presented.encode()
    found: ApiGrant | None = None
    for entry in settings.api_keys:
        key, grant = parse_entry(entry.get_secret_value())
        # Every entry is compared, so the time taken says nothing about which one matched.
        if given and hmac.compare_digest(given, key.encode()) and found is None:
            found = grant
    return found
