"""What smsdesk knows about one customer of one brand, and the interface every source serves.

A source answers for one (brand, phone) at a time: the number on file is the only key, so a
customer can only ever be shown their own records. The AI layer asks it after the compliance
layer has passed the text and outside any database transaction; a source that is down raises
`ContextUnavailable` and a person answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

ORDER_STATUSES = ("processing", "shipped", "out_for_delivery", "delivered", "ready_for_pickup",
                  "cancelled", "returned")  # fmt: skip
"""The order statuses smsdesk words for customers (others are shown as written)."""
APPOINTMENT_STATUSES = ("booked", "confirmed", "cancelled", "completed", "no_show")
SUBSCRIPTION_STATUSES = ("active", "paused", "cancelled", "past_due", "trial")
ACTIVE_APPOINTMENTS = ("booked", "confirmed")
"""An appointment in one of these holds its slot."""


@dataclass(frozen=True, slots=True)
class Order:
    """One order of the customer."""

    id: str
    status: str
    placed_at: datetime
    items: str = ""
    """A short summary for a text, e.g. "trail runners, 2 water bottles"."""
    tracking_url: str | None = None
    carrier: str | None = None
    eta: date | None = None


@dataclass(frozen=True, slots=True)
class Appointment:
    """One booking of an in-store service."""

    id: str
    service: str
    starts_at: datetime
    location: str = ""
    status: str = "booked"

    @property
    def active(self) -> bool:
        """Still going to happen (booked or confirmed)."""
        return self.status in ACTIVE_APPOINTMENTS


@dataclass(frozen=True, slots=True)
class Subscription:
    """The customer's membership (Acme Club)."""

    plan: str
    status: str
    renews_on: date | None = None


@dataclass(frozen=True, slots=True)
class Slot:
    """A free time for a service: what the appointment flow offers."""

    starts_at: datetime
    service: str
    location: str = ""


@dataclass(frozen=True, slots=True)
class Customer:
    """One customer of one brand, found by the number on file."""

    phone: str
    name: str = ""
    language: str = "en"
    orders: tuple[Order, ...] = ()
    appointments: tuple[Appointment, ...] = ()
    subscription: Subscription | None = None
    email: str | None = None

    @property
    def first_name(self) -> str:
        """How a text greets them ("" when no name is on file)."""
        return self.name.split()[0] if self.name.strip() else ""

    def latest_order(self) -> Order | None:
        """The most recently placed order."""
        return max(self.orders, key=lambda o: o.placed_at, default=None)

    def order(self, order_id: str) -> Order | None:
        """Their order with this id (case and spaces ignored), None when it is not theirs."""
        wanted = _order_key(order_id)
        found = next((o for o in self.orders if _order_key(o.id) == wanted), None)
        if found is None and wanted.isdigit():  # "order #10442" for AC10442
            found = next((o for o in self.orders if _digits(o.id) == wanted), None)
        return found

    def next_appointment(self, after: datetime) -> Appointment | None:
        """The first booked or confirmed appointment that starts after `after`."""
        upcoming = [a for a in self.appointments if a.active and a.starts_at >= after]
        return min(upcoming, key=lambda a: a.starts_at, default=None)


def _order_key(order_id: str) -> str:
    return "".join(order_id.split()).lstrip("#").replace("-", "").upper()


def _digits(order_id: str) -> str:
    key = _order_key(order_id)
    return key.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class CustomerContext(Protocol):
    """A source of customer records (the built-in tables, or the business's own system)."""

    name: str
    """`builtin` or `http`: shown in records and the console."""

    def customer(self, brand: str, phone: str) -> Customer | None:
        """The customer on file for this number, None when there is none (raises
        `ContextUnavailable` when the source cannot answer)."""
        ...

    def covers(self, brand: str) -> bool:
        """Whether this source keeps customer records for the brand at all (an empty built-in
        source does not: the bot then answers order questions from the knowledge base)."""
        ...

    def free_slots(
        self, brand: str, *, service: str, after: datetime, limit: int = 3
    ) -> list[Slot]:
        """The first `limit` free times for `service` after `after` (raises
        `ContextUnavailable`)."""
        ...
