"""Demo customers: the records that make "where's my order?" answer with an order in the demo.

Every number the phone simulator can pick (+1 212 555 0100 to 0199, fictional) and the seeded
demo conversations' numbers get a customer: a name, a recent order (shipped, processing, out
for delivery, ready for pickup or delivered, with tracking where it has shipped), an Acme Club
membership for most, and an upcoming appointment for every third. Dates are set relative to
the seeding instant and re-set at every start (the upserts are keyed by order and appointment
ids), so the demo never shows an order placed months ago or an appointment in the past.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session

from app.clock import now
from app.context.store import (
    upsert_appointment,
    upsert_customer,
    upsert_order,
    upsert_subscription,
)

SIMULATOR_NUMBERS = tuple(f"+121255501{n:02d}" for n in range(100))
"""Every number `app.console.simulator.random_phone` can give a visitor."""

_FIRST = (
    "Maya Jordan Priya Sam Alex Lucia Omar Grace Diego Hannah Noah Aisha Leo Chloe Mateo Zoe "
    "Ethan Sofia Kenji Nora"
).split()
_LAST = "Chen Reyes Patel Okafor Kim Garcia Haddad Murphy Silva Novak".split()
_ITEMS = (
    "trail runners",
    "a bike rack and 2 water bottles",
    "a 2-person tent",
    "rain jacket, size M",
    "hiking boots, size 9",
    "bike helmet and lights",
    "yoga mat",
    "insulated water bottle",
    "camp stove",
    "kids' bike, 20 inch",
)
_STATUSES = ("shipped", "processing", "out_for_delivery", "shipped", "ready_for_pickup",
             "delivered")  # fmt: skip
_CARRIERS = ("UPS", "USPS", "FedEx")
_SERVICES = ("bike tune-up", "bike fit", "boot fitting")
_PLANS = ("Acme Club Monthly", "Acme Club Yearly")


@dataclass(frozen=True, slots=True)
class DemoCustomer:
    """One demo customer's number and index (the index picks their name and records)."""

    phone: str
    index: int
    language: str = "en"


def demo_customers() -> tuple[DemoCustomer, ...]:
    """The simulator's numbers, then the seeded demo conversations' numbers (+1 415 555 01xx)."""
    simulator = tuple(DemoCustomer(p, n) for n, p in enumerate(SIMULATOR_NUMBERS))
    conversations = tuple(DemoCustomer(f"+14155550{131 + n}", 100 + n) for n in range(4))
    return simulator + conversations


def seed_customers(engine: Engine, *, brand: str, timezone: str, location: str) -> int:
    """Create or refresh every demo customer's records; returns how many customers."""
    zone = ZoneInfo(timezone)
    at = now()
    customers = demo_customers()
    with Session(engine) as session:
        for customer in customers:
            _seed_one(session, customer, brand=brand, at=at, zone=zone, location=location)
        session.commit()
    return len(customers)


def _seed_one(
    session: Session,
    demo: DemoCustomer,
    *,
    brand: str,
    at: datetime,
    zone: ZoneInfo,
    location: str,
) -> None:
    n = demo.index
    name = f"{_FIRST[n % len(_FIRST)]} {_LAST[(n // 3) % len(_LAST)]}"
    record = upsert_customer(
        session,
        brand=brand,
        phone=demo.phone,
        name=name,
        language=demo.language,
        email=f"{name.split()[0].lower()}.{n}@example.com",
    )
    ref = f"AC{10100 + n}"
    status = _STATUSES[n % len(_STATUSES)]
    shipped = status in ("shipped", "out_for_delivery", "delivered")
    carrier = _CARRIERS[n % len(_CARRIERS)] if shipped else None
    today = at.astimezone(zone).date()
    upsert_order(
        session,
        customer=record,
        ref=ref,
        status=status,
        placed_at=at - timedelta(days=2 + n % 3, hours=n % 7),
        items=_ITEMS[n % len(_ITEMS)],
        tracking_url=f"https://track.example.com/{ref}" if shipped else None,
        carrier=carrier,
        eta=_weekday(today + timedelta(days=2)) if status == "shipped" else None,
    )
    if n % 4 == 1:  # an older, delivered order too: "latest" must pick the newer one
        upsert_order(
            session,
            customer=record,
            ref=f"AC{9100 + n}",
            status="delivered",
            placed_at=at - timedelta(days=40 + n % 20),
            items=_ITEMS[(n + 3) % len(_ITEMS)],
            tracking_url=f"https://track.example.com/AC{9100 + n}",
            carrier=_CARRIERS[(n + 1) % len(_CARRIERS)],
        )
    if n % 3 == 0:
        day = _weekday(today + timedelta(days=1 + (n // 3) % 10))
        hour = 10 + (n // 3) % 7
        starts = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
        upsert_appointment(
            session,
            customer=record,
            ref=f"AP{5100 + n}",
            service=_SERVICES[n % len(_SERVICES)],
            starts_at=starts,
            location=location,
            status="booked",
        )
    if n % 5 != 4:
        renews = today + timedelta(days=5 + n % 25)
        upsert_subscription(
            session,
            customer=record,
            plan=_PLANS[n % len(_PLANS)],
            status="paused" if n % 10 == 7 else "active",
            renews_on=renews,
        )


def _weekday(day: date) -> date:
    """`day`, or the Monday after it when it falls on a weekend."""
    return day + timedelta(days=(7 - day.weekday()) % 7) if day.weekday() >= 5 else day
