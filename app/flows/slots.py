"""Where offered items come from: the brand's free appointment slots.

A narrow seam (issue 14): customer context lives in `app.context` (its own work), which
provides `free_slots(brand, after, limit)`. Until a deployment connects it, `no_slots` offers
nothing, and a flow's `when_empty` choice runs (a person books the slot).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol


class SlotSource(Protocol):
    """Free slots of a brand after an instant, soonest first, at most `limit`."""

    def __call__(self, brand: str, after: datetime, limit: int) -> Sequence[object]:
        """The slots: datetimes, objects with a `starts_at` datetime, or printable values."""
        ...


def no_slots(brand: str, after: datetime, limit: int) -> Sequence[object]:
    """The default source: no data, so no slots (the flow hands the booking to a person)."""
    return ()


def describe_slot(slot: object) -> str:
    """How a slot reads in a text: `Tue 8 Dec 10:30` (GSM-7, short)."""
    starts = getattr(slot, "starts_at", slot)
    if isinstance(starts, datetime):
        return f"{starts:%a} {starts.day} {starts:%b %H:%M}"
    return str(slot)
