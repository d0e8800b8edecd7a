"""Where offered items come from: the brand's free appointment slots.

A narrow seam: the slots come from the customer context (`app.context`, `from_context`); with
`no_slots` nothing is offered, and a flow's `when_empty` choice runs (a person books the slot).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Protocol

from app import log
from app.context import ContextUnavailable, CustomerContext

APPOINTMENT_SERVICE = "appointment"
_logger = log.get_logger("flows")


class SlotSource(Protocol):
    """Free slots of a brand after an instant, soonest first, at most `limit`."""

    def __call__(self, brand: str, after: datetime, limit: int) -> Sequence[object]:
        """The slots: datetimes, objects with a `starts_at` datetime, or printable values."""
        ...


def no_slots(brand: str, after: datetime, limit: int) -> Sequence[object]:
    """The default source: no data, so no slots (the flow hands the booking to a person)."""
    return ()


def from_context(context: CustomerContext) -> SlotSource:
    """The free appointment slots the customer context knows: none while it is down, or when
    it keeps no records of the brand (it would offer times it knows nothing about); the flow's
    `when_empty` choice then hands the booking to a person."""

    def slots(brand: str, after: datetime, limit: int) -> Sequence[object]:
        try:
            if not context.covers(brand):
                return ()
            return context.free_slots(brand, service=APPOINTMENT_SERVICE, after=after, limit=limit)
        except ContextUnavailable as exc:
            _logger.warning("flows.slots_unavailable", error=str(exc))
            return ()

    return slots


def describe_slot(slot: object, zone: tzinfo | None = None) -> str:
    """How a slot reads in a text, in the business's time zone: `Tue 8 Dec 10:30` (GSM-7)."""
    starts = getattr(slot, "starts_at", slot)
    if isinstance(starts, datetime):
        if zone is not None and starts.tzinfo is not None:
            starts = starts.astimezone(zone)
        return f"{starts:%a} {starts.day} {starts:%b %H:%M}"
    return str(slot)
