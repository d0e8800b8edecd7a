"""The "start a flow" form, shared by the console's Flows page and the phone simulator.

Variables are typed one `name=value` a line (as `smsdesk flows send --vars` takes them); the
form is checked before anything is started, each mistake as one sentence the form shows:
an unknown flow, a bad number, a line without `=`, a variable the flow does not take, one it
needs and did not get. What the engine refuses (consent, quiet-hours rules it applies at
start) comes back from `start_flow` and is shown the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlmodel import Session, select

from app.compliance.parsing import parse_e164
from app.console.flow_engine import (
    SAMPLE_VALUES,
    SOURCE,
    FlowInfo,
    FlowStarter,
    find_flow,
)
from app.errors import InvalidPhoneNumber
from app.flows import FlowStart
from app.storage.tables import Conversation

MAX_VARIABLE_LINES = 40
MAX_VALUE_CHARS = 500


@dataclass(frozen=True)
class StartOutcome:
    """What the form shows after a start: the error, or the run and its conversation."""

    error: str | None = None
    run_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    phone: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def variables_text(flow: FlowInfo | None, *, examples: bool = False) -> str:
    """The text area's starting value: one `name=` line per variable of the flow."""
    if flow is None:
        return ""
    values = {**SAMPLE_VALUES, **flow.examples} if examples else {}
    return "\n".join(f"{name}={values.get(name, '')}" for name in flow.variables)


def parse_variables(text: str, flow: FlowInfo) -> dict[str, str]:
    """`name=value` lines as a dict; ValueError with the one sentence the form shows."""
    found: dict[str, str] = {}
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > MAX_VARIABLE_LINES:
        raise ValueError(f"At most {MAX_VARIABLE_LINES} variables.")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise ValueError(f"Variables line {number}: write it as name=value.")
        if name not in flow.variables:
            takes = ", ".join(flow.variables) or "no variables"
            raise ValueError(f"Unknown variable '{name}': {flow.name} takes {takes}.")
        if len(value) > MAX_VALUE_CHARS:
            raise ValueError(f"Variable '{name}' is longer than {MAX_VALUE_CHARS} characters.")
        found[name] = value
    missing = [name for name in flow.variables if not found.get(name)]
    if missing:
        raise ValueError(
            f"Missing variable{'s' if len(missing) > 1 else ''}: {', '.join(missing)}."
        )
    return found


def start_from_form(
    session: Session,
    starter: FlowStarter,
    *,
    catalogue: tuple[FlowInfo, ...],
    brand: str,
    flow_name: str,
    phone_text: str,
    variables: str,
    form_key: str,
) -> StartOutcome:
    """Check the form, then start the flow in `session` (committed only when it started)."""
    flow = find_flow(catalogue, flow_name)
    if flow is None:
        return StartOutcome(error=f"There is no flow called '{flow_name[:64]}'.")
    try:
        phone = parse_e164(phone_text.strip())
    except InvalidPhoneNumber:
        return StartOutcome(
            error=f"'{phone_text.strip()[:40]}' is not a phone number in international form: "
            "write it with + and the country code, e.g. +12125550123."
        )
    try:
        values = parse_variables(variables, flow)
    except ValueError as exc:
        return StartOutcome(error=str(exc), phone=phone)
    key = form_key if form_key and len(form_key) <= 64 else uuid.uuid4().hex
    request = FlowStart(
        flow=flow.name,
        brand=brand,
        phone=phone,
        variables=values,
        source=SOURCE,
        idempotency_key=f"{SOURCE}:{key}",
    )
    started = starter(session, request)
    if not started.ok:
        session.rollback()
        return StartOutcome(error=started.message or _refusal(started.refusal), phone=phone)
    session.commit()
    conversation = session.exec(
        select(Conversation).where(Conversation.brand == brand, Conversation.phone_e164 == phone)
    ).first()
    return StartOutcome(
        run_id=started.run_id,
        conversation_id=conversation.id if conversation else started.conversation_id,
        phone=phone,
    )


_REFUSALS: Mapping[str, str] = {
    "opted_out": "Not sent: this number has opted out of texts.",
    "no_marketing_consent": "Not sent: this is a marketing flow and the number has not agreed "
    "to marketing texts.",
    "unknown_flow": "There is no such flow.",
    "missing_variable": "A variable the flow needs is missing.",
}


def _refusal(code: str | None) -> str:
    return _REFUSALS.get(code or "", f"Not started ({code}).")
