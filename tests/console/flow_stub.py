"""A stand-in for the flow engine's `start_flow` (the shared contract), for console tests.

It does what the contract promises and no more: refuse an opted-out number and a marketing
flow without marketing consent (sending nothing), else record a `FlowRun` waiting on the
flow's first question and queue the first text with `queue_outbound` (purpose `flow`), all
in the caller's transaction. Replies to it are the real engine's business, not this one's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.compliance.ledger import ConsentLedger, fold
from app.console.flow_engine import FlowStart, FlowStarted, flow_starter
from app.outbound.send import queue_outbound
from app.storage.messages import get_or_create_conversation, now
from app.storage.tables import FlowRun

FLOWS = {
    # In the flow engine's file format (docs/flows.md): the first text asks the `start` question.
    "appointment_reminder.yaml": """\
name: appointment_reminder
description: Reminds a customer of an appointment; confirm or reschedule.
category: transactional
variables: [name, date, time]
text: "{brand}: Hi {name}, see you on {date} at {time}. Reply 1 to confirm, 2 to reschedule."
start: confirm
fallback: "Reply 1 to confirm or 2 to reschedule."
nodes:
  confirm:
    options:
      "1": {label: confirm, outcome: confirmed, text: "Thanks {name}, you are confirmed."}
      "2": {label: reschedule, outcome: rescheduled, text: "We will be in touch."}
""",
    "lead_qualification.yaml": """\
name: lead_qualification
description: Two questions, then the lead goes to sales.
category: marketing
variables: [name]
text: "{brand}: Hi {name}! What are you looking for? 1 road, 2 mountain, 3 e-bike, 4 kids"
start: need
fallback: "Reply 1, 2, 3 or 4."
nodes:
  need:
    options:
      "1": {label: road, outcome: road}
      "2": {label: mountain, outcome: mountain}
""",
    "order_pickup.yaml": """\
name: order_pickup
description: Tells a customer their order is ready for pickup.
category: transactional
variables: [name, order]
text: "{brand}: Hi {name}, order {order} is ready. Reply 1 when you are on the way."
start: ready
fallback: "Reply 1 when you are on the way."
nodes:
  ready:
    options:
      "1": {label: on_my_way, outcome: on_the_way}
""",
}


def write_flows(folder: Path) -> Path:
    """The test catalogue: one transactional and one marketing flow."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in FLOWS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


FIRST = {
    "appointment_reminder": ("transactional", "confirm", "{brand}: Hi {name}, see you on {date} "
                             "at {time}. Reply 1 to confirm, 2 to reschedule."),
    "lead_qualification": ("marketing", "need", "{brand}: Hi {name}! What are you looking for? "
                           "1 road, 2 mountain, 3 e-bike, 4 kids"),
    "order_pickup": ("transactional", "ready", "{brand}: Hi {name}, order {order} is ready. "
                     "Reply 1 when you are on the way."),
}  # fmt: skip


@dataclass
class StubStarter:
    """`start_flow(session, FlowStart) -> FlowStarted`, minimally."""

    provider: str = "console"
    requests: list[FlowStart] = field(default_factory=list)

    def __call__(self, session: Session, request: FlowStart) -> FlowStarted:
        self.requests.append(request)
        same = session.exec(
            select(FlowRun).where(FlowRun.idempotency_key == request.idempotency_key)
        ).first()
        if same is not None:
            return FlowStarted(run_id=same.id, conversation_id=same.conversation_id)
        if request.flow not in FIRST:
            return FlowStarted(refusal="unknown_flow", message="There is no such flow.")
        category, node, template = FIRST[request.flow]
        # A first text must name the brand and say how to opt out (MSG-2), as the engine's do.
        text = template.format(brand="Acme", **request.variables) + " Reply STOP to opt out."
        consent = fold(ConsentLedger.events(session, brand=request.brand, phone=request.phone))
        if consent.state.status == "opted_out":
            return FlowStarted(refusal="opted_out", message="Not sent: the number opted out.")
        if category == "marketing" and not consent.marketing_consent:
            return FlowStarted(
                refusal="no_marketing_consent",
                message="Not sent: no consent to marketing texts from this number.",
            )
        conversation = get_or_create_conversation(session, brand=request.brand, phone=request.phone)
        session.flush()
        run = FlowRun(
            brand=request.brand,
            phone_e164=request.phone,
            conversation_id=conversation.id,
            flow=request.flow,
            node=node,
            variables=dict(request.variables),
            source=request.source,
            idempotency_key=request.idempotency_key,
            started_at=now(),
        )
        session.add(run)
        message = queue_outbound(
            session,
            conversation=conversation,
            body=text,
            category="marketing" if category == "marketing" else "transactional",
            purpose="flow",
            idempotency_key=f"flow:{request.idempotency_key}",
            provider=self.provider,
        )
        return FlowStarted(run_id=run.id, message_id=message.id, conversation_id=conversation.id)


def wire_starter(client: TestClient) -> Iterator[StubStarter]:
    """The stand-in wired into the app in place of the engine's `start_flow` (a fixture's
    body: `yield from wire_starter(client)`)."""
    stub = StubStarter()
    client.app.dependency_overrides[flow_starter] = lambda: stub  # type: ignore[attr-defined]
    yield stub
    client.app.dependency_overrides.pop(flow_starter, None)  # type: ignore[attr-defined]
