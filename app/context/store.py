"""Writing the built-in customer context: keyword-only upserts, keyed the way a business
keys its records (a customer by brand and number, an order or appointment by its id), so that
importing the same file twice, or seeding the demo at every start, changes nothing twice."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from app.clock import now
from app.storage.tables import AppointmentRecord, CustomerRecord, OrderRecord, SubscriptionRecord


def upsert_customer(
    session: Session,
    *,
    brand: str,
    phone: str,
    name: str | None = None,
    language: str | None = None,
    email: str | None = None,
) -> CustomerRecord:
    """The customer of (brand, phone), created when missing; given fields overwrite."""
    record = session.exec(
        select(CustomerRecord).where(
            CustomerRecord.brand == brand, CustomerRecord.phone_e164 == phone
        )
    ).first()
    if record is None:
        record = CustomerRecord(brand=brand, phone_e164=phone, updated_at=now())
    if name is not None:
        record.name = name
    if language is not None:
        record.language = language
    if email is not None:
        record.email = email or None
    record.updated_at = now()
    session.add(record)
    session.flush()
    return record


def upsert_order(
    session: Session,
    *,
    customer: CustomerRecord,
    ref: str,
    status: str,
    placed_at: datetime,
    items: str = "",
    tracking_url: str | None = None,
    carrier: str | None = None,
    eta: date | None = None,
) -> OrderRecord:
    """The order `ref` of the brand, as given (it moves to `customer` if it was another's)."""
    record = session.exec(
        select(OrderRecord).where(OrderRecord.brand == customer.brand, OrderRecord.ref == ref)
    ).first()
    if record is None:
        record = OrderRecord(
            brand=customer.brand, customer_id=customer.id, ref=ref, status=status,
            placed_at=placed_at,
        )  # fmt: skip
    record.customer_id = customer.id
    record.status = status
    record.placed_at = placed_at
    record.items = items
    record.tracking_url = tracking_url or None
    record.carrier = carrier or None
    record.eta = eta
    session.add(record)
    return record


def upsert_appointment(
    session: Session,
    *,
    customer: CustomerRecord,
    ref: str,
    service: str,
    starts_at: datetime,
    location: str = "",
    status: str = "booked",
) -> AppointmentRecord:
    """The appointment `ref` of the brand, as given."""
    record = session.exec(
        select(AppointmentRecord).where(
            AppointmentRecord.brand == customer.brand, AppointmentRecord.ref == ref
        )
    ).first()
    if record is None:
        record = AppointmentRecord(
            brand=customer.brand, customer_id=customer.id, ref=ref, service=service,
            starts_at=starts_at,
        )  # fmt: skip
    record.customer_id = customer.id
    record.service = service
    record.starts_at = starts_at
    record.location = location
    record.status = status
    session.add(record)
    return record


def upsert_subscription(
    session: Session,
    *,
    customer: CustomerRecord,
    plan: str,
    status: str,
    renews_on: date | None = None,
) -> SubscriptionRecord:
    """The customer's one membership, as given."""
    record = session.get(SubscriptionRecord, customer.id)
    if record is None:
        record = SubscriptionRecord(
            customer_id=customer.id, brand=customer.brand, plan=plan, status=status
        )
    record.plan = plan
    record.status = status
    record.renews_on = renews_on
    session.add(record)
    return record


def clear_customers(engine: Engine, *, brand: str) -> None:
    """Remove every customer record of the brand (their orders, appointments, memberships)."""
    with Session(engine) as session:
        for table in (SubscriptionRecord, AppointmentRecord, OrderRecord, CustomerRecord):
            session.execute(delete(table).where(col(table.brand) == brand))
        session.commit()
