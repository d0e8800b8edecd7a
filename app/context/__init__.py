"""Customer context: who is texting, their orders, appointments and membership.

    CustomerContext (protocol)  customer(brand, phone) · covers(brand) · free_slots(...)
    ├── BuiltinContext          smsdesk's own tables (`smsdesk context import`, the demo seed)
    └── HttpContext             the business's own system (SMSDESK_CONTEXT_URL; in
                                app.context.http, imported only where it is configured)

The number on file is the only key: a text is only ever answered with the records of the
number it came from. Others import only from here.
"""

from __future__ import annotations

from sqlalchemy import Engine

from app.config import Settings
from app.context.builtin import BuiltinContext, load_customer
from app.context.model import (
    Appointment,
    Customer,
    CustomerContext,
    Order,
    Slot,
    Subscription,
)
from app.errors import ContextUnavailable
from app.handoff.sla import BusinessClock

__all__ = [
    "Appointment",
    "BuiltinContext",
    "ContextUnavailable",
    "Customer",
    "CustomerContext",
    "Order",
    "Slot",
    "Subscription",
    "build_context",
    "load_customer",
]


def build_context(settings: Settings, engine: Engine) -> CustomerContext:
    """The configured source: the business's system when SMSDESK_CONTEXT_URL is set, else the
    built-in tables of `engine`."""
    if settings.context_url:
        from app.context.http import HttpContext  # httpx only where a system is configured

        return HttpContext.from_settings(settings)
    clock = BusinessClock(
        settings.business_hours, settings.business_timezone, settings.business_holidays
    )
    return BuiltinContext(
        engine,
        clock=clock,
        slot_minutes=settings.context_slot_minutes,
        location=settings.context_location,
    )
