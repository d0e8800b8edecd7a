"""Two-way flows: notifications that invite a reply, and what each reply does (issue 14).

    load_flows(folder) -> FlowCatalogue          the YAML files, validated (file:line errors)
    start_flow(session, FlowStart, flows=...)     one customer's run and its first text
    FlowStep                                      the pipeline's step: is this text an answer?

docs/flows.md describes the file format and the rules (KW-1) a flow must keep.
"""

from __future__ import annotations

from app.flows.answers import FlowEffects, FlowStep
from app.flows.loader import FlowCatalogue, InvalidFlowFile, load_flows
from app.flows.runs import Flows, FlowStart, FlowStarted, Refusal, start_flow
from app.flows.schema import Flow
from app.flows.slots import SlotSource, no_slots

__all__ = [
    "Flow",
    "FlowCatalogue",
    "FlowEffects",
    "FlowStart",
    "FlowStarted",
    "FlowStep",
    "Flows",
    "InvalidFlowFile",
    "Refusal",
    "SlotSource",
    "load_flows",
    "no_slots",
    "start_flow",
]
