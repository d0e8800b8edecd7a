"""A customer's own records as one short text: their order's status and tracking, their next
appointment, their membership's renewal. The words live in app/pipeline/data/replies.yaml
(`context:`), overridable per business like every other smsdesk text."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.context.model import Appointment, Customer, Order, Subscription

_MONTHS = {
    "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(),
    "es": "ene feb mar abr may jun jul ago sep oct nov dic".split(),
}
_DAYS = {
    "en": "Mon Tue Wed Thu Fri Sat Sun".split(),
    "es": "lun mar mie jue vie sab dom".split(),
}


def _day(on: date, language: str) -> str:
    months = _MONTHS.get(language, _MONTHS["en"])
    days = _DAYS.get(language, _DAYS["en"])
    if language == "es":
        return f"{days[on.weekday()]} {on.day} {months[on.month - 1]}"
    return f"{days[on.weekday()]} {months[on.month - 1]} {on.day}"


def _time(at: datetime) -> str:
    return at.strftime("%I:%M%p").lstrip("0").replace(":00", "").lower()


def _hello(texts: dict[str, Any], customer: Customer) -> str:
    name = customer.first_name
    return str(texts["hello"]).format(name=name) if name else ""


def order_text(
    texts: dict[str, Any], customer: Customer, order: Order, *, language: str, zone: ZoneInfo
) -> str:
    """Where the order is: its status, carrier, expected day and tracking link."""
    states: dict[str, str] = texts["order_state"]
    status = order.status.strip().casefold().replace(" ", "_")
    template = states.get(status, states["other"])
    if "{tracking}" in template and not order.tracking_url:
        template = template.split(" Track")[0].split(" Rastreo")[0]
    state = template.format(
        placed=_day(order.placed_at.astimezone(zone).date(), language),
        carrier=str(texts["carrier"]).format(carrier=order.carrier) if order.carrier else "",
        eta=str(texts["eta"]).format(eta=_day(order.eta, language)) if order.eta else "",
        tracking=order.tracking_url or "",
        status=order.status,
    )
    return str(texts["order"]).format(
        hello=_hello(texts, customer),
        id=order.id,
        items=f" ({order.items})" if order.items else "",
        state=state,
    )


def appointment_text(
    texts: dict[str, Any],
    customer: Customer,
    appointment: Appointment,
    *,
    language: str,
    zone: ZoneInfo,
) -> str:
    """When and where their next appointment is."""
    local = appointment.starts_at.astimezone(zone)
    when = f"{_day(local.date(), language)} {'a las' if language == 'es' else 'at'} {_time(local)}"
    location = (
        str(texts["location"]).format(location=appointment.location) if appointment.location else ""
    )
    return str(texts["appointment"]).format(
        hello=_hello(texts, customer),
        service=appointment.service,
        when=when,
        location=location,
    )


def subscription_text(
    texts: dict[str, Any], customer: Customer, subscription: Subscription, *, language: str
) -> str:
    """Their membership's state and renewal date."""
    states: dict[str, str] = texts["subscription"]
    status = subscription.status.strip().casefold()
    template = states.get(status, states["other"])
    if "{renews}" in template and subscription.renews_on is None:
        template = states["other"]
    return template.format(
        hello=_hello(texts, customer),
        plan=subscription.plan,
        status=subscription.status,
        renews=_day(subscription.renews_on, language) if subscription.renews_on else "",
    )
