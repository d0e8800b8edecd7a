"""The satisfaction survey after an agent resolves a hand-off (issue 14).

Resolving queues a `flow_survey` job in the same transaction (`queue_survey`), on the
conversation's ordering key, so it runs after any text of the customer already in line. The
job decides: the setting is on, the item was resolved (not spam, not "no reply needed", not
handed back to the bot), and it was not a safety hand-off (a customer in crisis is never asked
to rate us). An opted-out number is
refused by `start_flow` itself. The item's id is the idempotency key (one survey per item),
and a conversation is asked at most once per reply window.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app import log
from app.flows.runs import Flows, FlowStart, start_flow
from app.storage.messages import conversation_key, enqueue, now
from app.storage.tables import Conversation, FlowRun, HandoffItem

FLOW_SURVEY = "flow_survey"
SURVEY_FLOW = "satisfaction_survey"
_NEVER_AFTER = frozenset({"safety_language"})
_logger = log.get_logger("flows")


def queue_survey(session: Session, *, item: HandoffItem, conversation: Conversation) -> None:
    """Queue the survey decision for a resolved item (in the resolving transaction)."""
    enqueue(
        session,
        kind=FLOW_SURVEY,
        key=conversation_key(conversation.brand, conversation.phone_e164),
        payload={"item_id": str(item.id)},
        dedupe_key=f"survey:{item.id}",
    )


@dataclass
class SurveyStarter:
    """Runs `flow_survey` jobs."""

    engine: Engine
    flows: Flows
    enabled: bool

    def __call__(self, payload: dict[str, str]) -> None:
        """The job handler."""
        self.start(uuid.UUID(payload["item_id"]))

    def start(self, item_id: uuid.UUID) -> bool:
        """Start the survey for a resolved item if it should have one; whether it started."""
        if not self.enabled or self.flows.catalogue.get(SURVEY_FLOW) is None:
            return False
        with Session(self.engine, expire_on_commit=False) as session:
            item = session.get(HandoffItem, item_id)
            conversation = session.get(Conversation, item.conversation_id) if item else None
            if item is None or conversation is None or not _deserves(session, item, self.flows):
                return False
            started = start_flow(
                session,
                FlowStart(
                    flow=SURVEY_FLOW,
                    brand=conversation.brand,
                    phone=conversation.phone_e164,
                    variables={},
                    source="survey",
                    idempotency_key=f"survey:{item.id}",
                ),
                flows=self.flows,
            )
            if started.refusal is not None:
                _logger.info("flows.survey_skipped", why=started.refusal.code)
                return False
            session.commit()
        return True


def _deserves(session: Session, item: HandoffItem, flows: Flows) -> bool:
    if item.status != "resolved" or item.outcome != "resolved":
        return False
    if _NEVER_AFTER & set(item.reasons):
        return False
    # One survey per conversation per reply window: resolving the hand-off a survey's own low
    # rating opened (or a second question the same day) asks nobody to rate us twice.
    recent = session.exec(
        select(FlowRun.id).where(
            FlowRun.conversation_id == item.conversation_id,
            FlowRun.flow == SURVEY_FLOW,
            col(FlowRun.started_at) >= now() - flows.reply_window,
        )
    ).first()
    return recent is None
