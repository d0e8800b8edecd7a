"""The built-in customer context: smsdesk's own tables (customers, orders, appointments,
subscriptions), filled by `smsdesk context import` or the demo seed.

Free slots are generated rather than stored: every `SMSDESK_CONTEXT_SLOT_MINUTES` within the
business hours (the same hours and holidays the SLA clock uses), minus the times a booked or
confirmed appointment holds. A table of slots would have to be kept filled day after day by
someone; opening hours are already configured, so the slots are always there and a booking
made in any way (import, the business's system, a flow) takes its time off the list at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, exists
from sqlmodel import Session, col, select

from app.context.model import (
    ACTIVE_APPOINTMENTS,
    Appointment,
    Customer,
    Order,
    Slot,
    Subscription,
)
from app.handoff.sla import BusinessClock
from app.storage.engine import reading
from app.storage.tables import AppointmentRecord, CustomerRecord, OrderRecord, SubscriptionRecord

SLOT_HORIZON_DAYS = 21
"""Free slots are looked for this far ahead at most."""


class BuiltinContext:
    """Customer records from smsdesk's own database."""

    name = "builtin"

    def __init__(
        self, engine: Engine, *, clock: BusinessClock, slot_minutes: int, location: str
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.slot = timedelta(minutes=slot_minutes)
        self.location = location

    def customer(self, brand: str, phone: str) -> Customer | None:
        """The customer on file for (brand, phone) with their records, or None."""
        with Session(reading(self.engine)) as session:
            return load_customer(session, brand=brand, phone=phone)

    def covers(self, brand: str) -> bool:
        """Whether any customer of the brand is on file."""
        with Session(reading(self.engine)) as session:
            query = select(exists().where(col(CustomerRecord.brand) == brand))
            return bool(session.exec(query).one())

    def free_slots(
        self, brand: str, *, service: str, after: datetime, limit: int = 3
    ) -> list[Slot]:
        """The first `limit` slot starts after `after` within business hours that no booked
        or confirmed appointment of the brand holds."""
        horizon = after + timedelta(days=SLOT_HORIZON_DAYS)
        with Session(reading(self.engine)) as session:
            taken = {
                a.starts_at
                for a in session.exec(
                    select(AppointmentRecord).where(
                        AppointmentRecord.brand == brand,
                        col(AppointmentRecord.status).in_(ACTIVE_APPOINTMENTS),
                        col(AppointmentRecord.starts_at) >= after - self.slot,
                        col(AppointmentRecord.starts_at) <= horizon,
                    )
                )
            }
        found: list[Slot] = []
        for start in self._starts(after, horizon):
            if not any(abs(start - t) < self.slot for t in taken):
                found.append(Slot(start, service, self.location))
                if len(found) >= limit:
                    break
        return found

    def _starts(self, after: datetime, horizon: datetime) -> list[datetime]:
        """Slot starts on the slot grid (from local midnight), inside business hours."""
        minutes = int(self.slot.total_seconds() // 60)
        cursor = _round_up(self.clock.next_open(after), minutes)
        starts: list[datetime] = []
        while cursor < horizon and len(starts) < 500:
            opened = _round_up(self.clock.next_open(cursor), minutes)
            end = self.clock.add(opened, minutes)
            if end - opened.astimezone(UTC) == self.slot:
                starts.append(opened.astimezone(UTC))
                cursor = end
            else:  # the day closes before this slot would end: the next day's first slot
                cursor = opened + self.slot
        return starts


def _round_up(at: datetime, minutes: int) -> datetime:
    """`at` moved up to the next slot boundary, counted from its local midnight."""
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    since = (at - midnight).total_seconds() / 60
    steps = -(-since // minutes)
    return midnight + timedelta(minutes=steps * minutes)


def load_customer(session: Session, *, brand: str, phone: str) -> Customer | None:
    """One customer with orders (newest first), appointments and subscription, or None."""
    record = session.exec(
        select(CustomerRecord).where(
            CustomerRecord.brand == brand, CustomerRecord.phone_e164 == phone
        )
    ).first()
    if record is None:
        return None
    orders = session.exec(
        select(OrderRecord)
        .where(OrderRecord.customer_id == record.id)
        .order_by(col(OrderRecord.placed_at).desc())
    ).all()
    appointments = session.exec(
        select(AppointmentRecord)
        .where(AppointmentRecord.customer_id == record.id)
        .order_by(col(AppointmentRecord.starts_at))
    ).all()
    subscription = session.get(SubscriptionRecord, record.id)
    return Customer(
        phone=record.phone_e164,
        name=record.name,
        language=record.language,
        email=record.email,
        orders=tuple(
            Order(
                id=o.ref,
                status=o.status,
                placed_at=o.placed_at,
                items=o.items,
                tracking_url=o.tracking_url,
                carrier=o.carrier,
                eta=o.eta,
            )
            for o in orders
        ),
        appointments=tuple(
            Appointment(a.ref, a.service, a.starts_at, a.location, a.status) for a in appointments
        ),
        subscription=(
            Subscription(subscription.plan, subscription.status, subscription.renews_on)
            if subscription is not None
            else None
        ),
    )
