"""The customer context from the business's own system, over HTTP (docs/customer-context.md).

    GET <SMSDESK_CONTEXT_URL>/customers/<phone, URL-encoded>?brand=<brand>
        200: the customer as JSON (below) · 404: no customer on file for this number
    GET <SMSDESK_CONTEXT_URL>/slots?brand=&service=&after=<ISO-8601>&limit=
        200: {"slots": [{"starts_at": ..., "service": ..., "location": ...}]}

Never in the way of compliance: it is only asked by the AI step, after the compliance layer
has decided and outside any database transaction. Each request has a timeout; a transport
error, a timeout or a 5xx is retried with tenacity (bounded, jittered), and after that, or on
an answer that is not the documented JSON, `ContextUnavailable` is raised and a person answers
(`context_unavailable`). Answers are kept for `SMSDESK_CONTEXT_CACHE_SECONDS` so a conversation
of several texts asks once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from app import clock, log
from app.config import Settings
from app.context.model import Appointment, Customer, Order, Slot, Subscription
from app.errors import ContextUnavailable

CACHE_ENTRIES = 2048
"""Customers kept at most (the oldest go first)."""
_logger = log.get_logger("context")
_Model = TypeVar("_Model", bound="BaseModel")


class _ServerError(Exception):
    """A 5xx: the system is there but failing, worth another try."""


class OrderJson(BaseModel):
    """One order as the business's system sends it."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=64)
    status: str = Field(min_length=1, max_length=32)
    placed_at: datetime
    items: str = Field(default="", max_length=300)
    tracking_url: str | None = Field(default=None, max_length=500)
    carrier: str | None = Field(default=None, max_length=64)
    eta: date | None = None


class AppointmentJson(BaseModel):
    """One appointment as the business's system sends it."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=64)
    service: str = Field(min_length=1, max_length=100)
    starts_at: datetime
    location: str = Field(default="", max_length=200)
    status: str = Field(default="booked", max_length=16)


class SubscriptionJson(BaseModel):
    """The membership as the business's system sends it."""

    model_config = ConfigDict(extra="ignore")

    plan: str = Field(min_length=1, max_length=100)
    status: str = Field(min_length=1, max_length=16)
    renews_on: date | None = None


class CustomerJson(BaseModel):
    """The body of `GET /customers/<phone>`."""

    model_config = ConfigDict(extra="ignore")

    phone: str | None = None
    """When given, it must be the number asked for (a guard against a mixed-up answer)."""
    name: str = Field(default="", max_length=200)
    language: str = Field(default="en", max_length=8)
    email: str | None = None
    orders: list[OrderJson] = Field(default_factory=list)
    appointments: list[AppointmentJson] = Field(default_factory=list)
    subscription: SubscriptionJson | None = None

    def to_customer(self, phone: str) -> Customer:
        """The typed customer (timestamps without a zone are refused by `_aware`)."""
        return Customer(
            phone=phone,
            name=self.name,
            language=self.language,
            email=self.email,
            orders=tuple(
                Order(
                    id=o.id,
                    status=o.status,
                    placed_at=_aware(o.placed_at),
                    items=o.items,
                    tracking_url=o.tracking_url,
                    carrier=o.carrier,
                    eta=o.eta,
                )
                for o in self.orders
            ),
            appointments=tuple(
                Appointment(a.id, a.service, _aware(a.starts_at), a.location, a.status)
                for a in self.appointments
            ),
            subscription=(
                Subscription(self.subscription.plan, self.subscription.status,
                             self.subscription.renews_on)
                if self.subscription is not None
                else None
            ),
        )  # fmt: skip


class SlotJson(BaseModel):
    """One free slot."""

    starts_at: datetime
    service: str = Field(min_length=1, max_length=100)
    location: str = Field(default="", max_length=200)


class SlotsJson(BaseModel):
    """The body of `GET /slots`."""

    slots: list[SlotJson]


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ContextUnavailable("a timestamp without a time zone (send ISO-8601 with an offset)")
    return at


class HttpContext:
    """Asks the business's own system, with a timeout, retries and a small cache."""

    name = "http"

    def __init__(
        self,
        base_url: str,
        *,
        token: str = "",
        timeout: float = 2.0,
        retries: int = 2,
        cache_seconds: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "smsdesk-context"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )
        self._retrying = Retrying(
            stop=stop_after_attempt(retries + 1),
            wait=wait_random_exponential(multiplier=0.05, max=0.5),
            retry=retry_if_exception_type((httpx.TransportError, _ServerError)),
            before_sleep=lambda state: _logger.warning(
                "context.retry",
                attempt=state.attempt_number,
                error=repr(state.outcome.exception()) if state.outcome else None,
            ),
        )
        self._ttl = cache_seconds
        self._cache: OrderedDict[tuple[str, str], tuple[datetime, Customer | None]] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpContext:
        """The adapter configured by SMSDESK_CONTEXT_* settings."""
        assert settings.context_url is not None
        return cls(
            settings.context_url,
            token=settings.context_token.get_secret_value(),
            timeout=settings.context_timeout_seconds,
            retries=settings.context_retries,
            cache_seconds=settings.context_cache_seconds,
        )

    def customer(self, brand: str, phone: str) -> Customer | None:
        """The customer on file for this number (cached), None on a 404."""
        key = (brand, phone)
        cached = self._cached(key)
        if cached is not None:
            return cached[1]
        response = self._get(f"/customers/{quote(phone, safe='')}", {"brand": brand})
        if response.status_code == 404:
            found: Customer | None = None
        else:
            body = _json(response, CustomerJson)
            if body.phone is not None and body.phone != phone:
                raise ContextUnavailable("the system answered for another number than asked")
            found = body.to_customer(phone)
        with self._lock:
            self._cache[key] = (clock.now(), found)
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return found

    def covers(self, brand: str) -> bool:
        """The business's system is the record for every number: always True."""
        return True

    def free_slots(
        self, brand: str, *, service: str, after: datetime, limit: int = 3
    ) -> list[Slot]:
        """The system's first `limit` free slots for `service` after `after`."""
        params = {"brand": brand, "service": service, "after": after.isoformat(), "limit": limit}
        body = _json(self._get("/slots", params), SlotsJson)
        return [Slot(_aware(s.starts_at), s.service, s.location) for s in body.slots[:limit]]

    def close(self) -> None:
        """Release the connections."""
        self._client.close()

    def _cached(self, key: tuple[str, str]) -> tuple[datetime, Customer | None] | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is None or (clock.now() - entry[0]).total_seconds() >= self._ttl:
                return None
            return entry

    def _get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        def attempt() -> httpx.Response:
            response = self._client.get(path, params=params)
            if response.status_code >= 500:
                raise _ServerError(f"{response.status_code} from the customer system")
            return response

        try:
            response = self._retrying(attempt)
        except RetryError as exc:
            error = exc.last_attempt.exception()
            _logger.warning("context.unavailable", error=repr(error))
            raise ContextUnavailable(f"the customer system did not answer: {error!r}") from None
        if response.status_code not in (200, 404):
            _logger.warning("context.unavailable", status=response.status_code)
            raise ContextUnavailable(f"the customer system answered {response.status_code}")
        return response


def _json(response: httpx.Response, model: type[_Model]) -> _Model:
    if response.status_code != 200:
        raise ContextUnavailable(f"the customer system answered {response.status_code}")
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise ContextUnavailable(f"the customer system's JSON: {str(exc)[:300]}") from None
