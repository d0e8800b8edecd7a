"""The console's one door to the flow engine (`app.flows`): the catalogue and starting a flow.

The console and the phone simulator read flows and start them only through this module, so
that connecting them to the engine is one place:

- `flow_catalogue(settings)` lists the shipped flows as the pages show them (`FlowInfo`).
  MERGE: read them with `app.flows.load_flows` (and the flows folder setting) instead of the
  minimal YAML reading below, mapping each loaded flow to a `FlowInfo`.
- `flow_starter()` is the FastAPI dependency that hands routes the `start_flow` callable
  (`start_flow(session, FlowStart) -> FlowStarted`, which adds to the caller's transaction).
  MERGE: return an adapter over `app.flows.start_flow` that maps its typed refusals to
  `FlowStarted.refusal` (a code) and `.message` (a sentence a person reads). Tests override
  it with `app.dependency_overrides[flow_starter]`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Protocol

import yaml
from fastapi import Depends
from sqlmodel import Session

from app.config import Settings

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
class FlowStart:
    """Start one flow to one number (the shared contract's request)."""

    flow: str
    brand: str
    phone: str
    variables: Mapping[str, str]
    source: str
    idempotency_key: str
    campaign_id: uuid.UUID | None = None


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


def _engine_missing(session: Session, request: FlowStart) -> FlowStarted:
    return FlowStarted(
        refusal="unavailable", message="Flows cannot be started: the flow engine is not installed."
    )


def flow_starter() -> FlowStarter:
    """The `start_flow` the console calls (MERGE: `app.flows.start_flow`, adapted)."""
    return _engine_missing


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
    found = [info for path, _ in files if (info := _info(Path(path))) is not None]
    return tuple(sorted(found, key=lambda f: f.name))


def _info(path: Path) -> FlowInfo | None:
    # Minimal reading for the pages; `smsdesk flows check` is what reports a broken file.
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(data, dict):
        return None
    variables, examples = _variables(data.get("variables"))
    questions = _questions(data.get("nodes") or data.get("questions"))
    start, first = data.get("start"), data.get("text")
    if isinstance(start, str) and isinstance(first, str) and start not in questions:
        questions = {start: " ".join(first.split())} | questions  # the first text asks it
    return FlowInfo(
        name=str(data.get("name") or path.stem),
        category=str(data.get("category") or "transactional"),
        description=" ".join(str(data.get("description") or "").split()),
        variables=variables,
        examples=examples,
        questions=questions,
    )


def _variables(raw: Any) -> tuple[tuple[str, ...], dict[str, str]]:
    if isinstance(raw, list):
        names = [str(v.get("name")) if isinstance(v, dict) else str(v) for v in raw]
        examples = {
            str(v["name"]): str(v["example"])
            for v in raw
            if isinstance(v, dict) and "name" in v and "example" in v
        }
        return tuple(names), examples
    if isinstance(raw, dict):
        examples = {
            str(k): str(v["example"])
            for k, v in raw.items()
            if isinstance(v, dict) and "example" in v
        }
        return tuple(str(k) for k in raw), examples
    return (), {}


def _questions(raw: Any) -> dict[str, str]:
    nodes = raw.items() if isinstance(raw, dict) else []
    if isinstance(raw, list):
        nodes = [(n.get("id") or n.get("name"), n) for n in raw if isinstance(n, dict)]
    found: dict[str, str] = {}
    for name, node in nodes:
        if isinstance(node, dict):
            text = node.get("text") or node.get("question") or node.get("template")
            if name and isinstance(text, str):
                found[str(name)] = " ".join(text.split())
    return found


def find_flow(catalogue: tuple[FlowInfo, ...], name: str) -> FlowInfo | None:
    """The flow called `name` in the catalogue."""
    return next((f for f in catalogue if f.name == name), None)
