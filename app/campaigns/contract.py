"""What a bulk send needs from the flows: the flow's shape, and starting it for one recipient.

The flows package owns both (`app.flows.start_flow`, its loader); this module states the narrow
seam bulk sends use, so campaigns are built and tested against it, and `connect` puts the
real flows behind it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlmodel import Session

from app import flows as engine
from app.compliance.model import Category
from app.config import Settings
from app.flows import FlowStart

__all__ = ["FlowInfo", "FlowStart", "FlowStarter", "Flows", "StartAccepted", "StartRefused"]


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


def connect(flows: engine.Flows) -> Flows:
    """The seam over a deployment's flows (`app.flows`): its catalogue and `start_flow`."""

    def catalog(name: str) -> FlowInfo | None:
        flow = flows.catalogue.get(name)
        return None if flow is None else FlowInfo(flow.name, flow.category, tuple(flow.variables))

    def starter(session: Session, request: FlowStart) -> StartOutcome:
        started = engine.start_flow(session, request, flows=flows)
        if started.refusal is not None:
            return StartRefused(started.refusal.code, started.refusal.detail)
        assert started.run_id is not None
        return StartAccepted(started.run_id, started.message_id)

    return Flows(catalog=catalog, starter=starter)


def default_flows(settings: Settings) -> Flows:
    """The flows of `settings.flows_dir`, for a bulk send started outside the server."""
    return connect(engine.Flows.from_settings(settings, provider=settings.sms_provider))
