"""Small helpers shared by tests."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from app import clock
from app.channels.base import InboundSms

_sids = itertools.count(1)


def inbound_sms(body: str, *, phone: str, sid: str | None = None) -> InboundSms:
    """A text from `phone` to the business as the Twilio webhook parses it (a new message id
    unless `sid` is given: a redelivery)."""
    return InboundSms(
        provider="twilio",
        provider_message_id=sid or f"SM{next(_sids):032d}",
        from_number=phone,
        to_number="+18005550199",
        body=body,
        received_at=clock.now(),
    )


def eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll `check` until it is true; fail the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {seconds} s")
