"""What a bulk send needs from the flows: the flow's shape, and starting it for one recipient.

The flows package owns both (`app.flows.start_flow`, its loader); this module states the narrow
seam bulk sends use, so campaigns are built and tested against it. `default_flows()` is where
the real ones are connected.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sqlmodel import Session

from app.compliance.model import Category


@dataclass(frozen=True)
class FlowStart:
    """One flow for one recipient (the shared contract's `FlowStart`)."""

    flow: str
    brand: str
    phone: str
    """E.164."""
    variables: Mapping[str, str]
    source: str
    idempotency_key: str
    campaign_id: uuid.UUID | None = None


@dataclass(frozen=True)
class StartAccepted:
    """The flow run exists and its first text is queued (it passes the gate at send time)."""

    run_id: uuid.UUID
    message_id: uuid.UUID | None


@dataclass(frozen=True)
class StartRefused:
    """The flow did not start and nothing was sent: e.g. `opted_out`, `no_marketing_consent`,
    `missing_variable`, `unknown_flow`."""

    reason: str
    detail: str = ""


StartOutcome = StartAccepted | StartRefused


class FlowStarter(Protocol):
    """Start one flow in the caller's transaction (`app.flows.start_flow`, adapted)."""

    def __call__(self, session: Session, request: FlowStart) -> StartOutcome:
        """Add the run and its first text to `session`'s transaction, or refuse."""
        ...


@dataclass(frozen=True)
class FlowInfo:
    """What a CSV is checked against: the flow's category and the variables it needs."""

    name: str
    category: Category
    variables: tuple[str, ...]
    optional: tuple[str, ...] = field(default=())
    """Variables the flow can do without (e.g. filled from customer context)."""


FlowCatalog = Callable[[str], FlowInfo | None]
"""The flow of this name, or None when there is none."""


@dataclass(frozen=True)
class Flows:
    """The two things a bulk send needs from the flows package."""

    catalog: FlowCatalog
    starter: FlowStarter


def _no_flow(_name: str) -> FlowInfo | None:
    return None


def _not_started(session: Session, request: FlowStart) -> StartOutcome:
    return StartRefused("unknown_flow", f"flows are not available to start {request.flow!r}")


UNWIRED = Flows(catalog=_no_flow, starter=_not_started)
"""Until the flows package is connected: every flow is unknown (a clear 400 / CLI error)."""


def default_flows() -> Flows:
    """The flows the server and CLI use for bulk sends (UNWIRED until flows are connected)."""
    return UNWIRED
