"""Flow runs written straight to the table, for tests that read them (metrics, console)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from app.storage.tables import Conversation, FlowRun, HandoffItem


@dataclass
class RunFactory:
    """Adds conversations and flow runs started `ago` before `at`."""

    session: Session
    at: datetime
    conversations: dict[str, Conversation] = field(default_factory=dict)

    def conversation(self, phone: str, brand: str = "acme") -> Conversation:
        key = f"{brand}|{phone}"
        if key not in self.conversations:
            conversation = Conversation(
                brand=brand, phone_e164=phone, created_at=self.at - timedelta(days=90)
            )
            self.session.add(conversation)
            self.session.flush()
            self.conversations[key] = conversation
        return self.conversations[key]

    def run(
        self,
        flow: str,
        phone: str,
        *,
        ago: timedelta = timedelta(hours=1),
        status: str = "active",
        outcome: str | None = None,
        replied_after: timedelta | None = None,
        finished_after: timedelta | None = None,
        node: str | None = None,
        answers: list[dict[str, Any]] | None = None,
        variables: dict[str, Any] | None = None,
        brand: str = "acme",
    ) -> FlowRun:
        started = self.at - ago
        run = FlowRun(
            brand=brand,
            phone_e164=phone,
            conversation_id=self.conversation(phone, brand).id,
            flow=flow,
            node=node,
            status=status,
            outcome=outcome,
            variables=variables or {},
            answers=answers or [],
            source="api",
            idempotency_key=uuid.uuid4().hex,
            started_at=started,
            first_reply_at=started + replied_after if replied_after is not None else None,
            finished_at=started + finished_after if finished_after is not None else None,
        )
        self.session.add(run)
        self.session.flush()
        return run

    def handoff(self, phone: str, *, ago: timedelta, brand: str = "acme") -> None:
        self.session.add(
            HandoffItem(
                conversation_id=self.conversation(phone, brand).id,
                reasons=["flow_handoff"],
                created_at=self.at - ago,
            )
        )
        self.session.flush()
