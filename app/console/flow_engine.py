"""The console's one door to the flow engine (`app.flows`): the catalogue and starting a flow.

The console and the phone simulator read flows and start them only through this module:
`flow_catalogue(settings)` lists the flows as the pages show them (`FlowInfo`, read with
`app.flows.load_flows`), and `flow_starter` is the FastAPI dependency that hands routes
`app.flows.start_flow` bound to the running deployment's flows, its refusals as sentences a
person reads. Tests override it with `app.dependency_overrides[flow_starter]`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Protocol

from fastapi import Depends
from sqlmodel import Session

from app.api.deps import RuntimeDep
from app.config import Settings
from app.flows import Flow, FlowStart, InvalidFlowFile, load_flows
from app.flows import start_flow as engine_start
from app.storage.tables import FlowRun

SAMPLE_VALUES: Mapping[str, str] = {
    "name": "Sam",
    "date": "Tue 12 May",
    "time": "10:00 am",
    "order": "A1042",
    "amount": "$42.00",
    "link": "https://pay.example.com/A1042",
    "plan": "Monthly Classic",
}
"""Values the phone simulator fills in for the shipped flows' variables (a flow's own
examples win), so that any flow can be tried with one click."""
SOURCE = "console"
"""`FlowRun.source` of runs started from the console and from the simulator."""


@dataclass(frozen=True)
class FlowInfo:
    """One flow as the console lists it."""

    name: str
    category: str
    description: str
    variables: tuple[str, ...]
    examples: Mapping[str, str] = field(default_factory=dict)
    """An example value per variable, where the flow gives one (the simulator fills them in)."""
    questions: Mapping[str, str] = field(default_factory=dict)
    """The text of each question node, by node name."""


@dataclass(frozen=True)
class FlowStarted:
    """What starting a flow did: a run and its first text, or a refusal (nothing sent)."""

    run_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    refusal: str | None = None
    """unknown_flow | missing_variable | unknown_variable | opted_out | no_marketing_consent
    | unavailable | ..."""
    message: str = ""
    """The refusal as a sentence a person reads."""

    @property
    def ok(self) -> bool:
        """The flow was started."""
        return self.refusal is None


class FlowStarter(Protocol):
    """`start_flow(session, request) -> FlowStarted`, adding to the caller's transaction."""

    def __call__(self, session: Session, request: FlowStart) -> FlowStarted: ...


def flow_starter(runtime: RuntimeDep) -> FlowStarter:
    """`app.flows.start_flow` on the running deployment's flows, for the console's routes."""
    flows = runtime.flows

    def start(session: Session, request: FlowStart) -> FlowStarted:
        if flows is None:
            return FlowStarted(refusal="unavailable", message="Flows are not set up here.")
        started = engine_start(session, request, flows=flows)
        if started.refusal is not None:
            return FlowStarted(refusal=started.refusal.code, message=started.refusal.detail)
        run = session.get(FlowRun, started.run_id)
        return FlowStarted(
            run_id=started.run_id,
            message_id=started.message_id,
            conversation_id=run.conversation_id if run is not None else None,
        )

    return start


FlowStarterDep = Annotated[FlowStarter, Depends(flow_starter)]


# ---------------------------------------------------------------------------- catalogue


def flow_catalogue(settings: Settings) -> tuple[FlowInfo, ...]:
    """The flows of the flows folder, by name (none when there is no such folder)."""
    folder = settings.flows_dir
    if not folder.is_dir():
        return ()
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    stamp = tuple((str(f), f.stat().st_mtime_ns) for f in files)
    return _read(stamp)


@lru_cache(maxsize=4)
def _read(files: tuple[tuple[str, int], ...]) -> tuple[FlowInfo, ...]:
    if not files:
        return ()
    try:
        catalogue = load_flows(Path(files[0][0]).parent)
    except InvalidFlowFile:
        return ()  # the server refuses to start on a broken file; `smsdesk flows check` says why
    return tuple(_info(flow) for flow in catalogue)


def _info(flow: Flow) -> FlowInfo:
    questions = {flow.start: " ".join(flow.text.split())}
    questions |= {
        name: " ".join(node.text.split())
        for name, node in flow.nodes.items()
        if name != flow.start and node.text
    }
    return FlowInfo(
        name=flow.name,
        category=flow.category,
        description=" ".join(flow.description.split()),
        variables=tuple(flow.variables),
        questions=questions,
    )


def find_flow(catalogue: tuple[FlowInfo, ...], name: str) -> FlowInfo | None:
    """The flow called `name` in the catalogue."""
    return next((f for f in catalogue if f.name == name), None)
