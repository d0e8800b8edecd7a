"""The `run_campaign` job: start the next small batch of a campaign's recipients, then queue the
batch after it.

Exactly once, across crashes: a batch's flow starts, its recipients' new states and the next
batch's job commit together, so a crash before the commit leaves the batch pending (the job is
recovered and runs it again) and a crash after it leaves nothing to redo (only `pending`
recipients are taken). Each start also carries the idempotency key
`campaign:<id>:<phone>`, which the flow run stores uniquely: a second start of one recipient
cannot commit. Batches are spaced at the campaign's sending rate, so a big campaign does not
flood the send queue ahead of conversations (the send-time limits pace each text anyway).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app import log
from app.campaigns.contract import FlowStart, FlowStarter, StartAccepted
from app.campaigns.service import enqueue_batch
from app.errors import SmsdeskError
from app.storage.messages import now
from app.storage.tables import Campaign, CampaignRecipient

BATCH_SECONDS = 2.0
"""With a rate limit, a batch holds about this many seconds of sending."""
LEAD_SECONDS = 0.5
"""The next batch is queued this much before the current one's texts have all gone (about one
idle poll of the job engine), so the send queue never runs dry; the send-time pacer, not the
batch spacing, is what holds the rate."""
_logger = log.get_logger("campaigns")


def idempotency_key(campaign_id: uuid.UUID, phone: str) -> str:
    """The key of one recipient's start: the same on every retry of the campaign."""
    return f"campaign:{campaign_id}:{phone}"


@dataclass
class CampaignRunner:
    """Runs `run_campaign` jobs: one batch of recipients per job."""

    engine: Engine
    starter: FlowStarter
    batch_size: int = 50
    feed_rate: float | None = None
    """Texts per second the campaign can be sent at (the smaller of its limits; None: none)."""

    def __call__(self, payload: dict[str, Any]) -> None:
        """The job handler."""
        self.run_batch(uuid.UUID(payload["campaign_id"]))

    def batch_limit(self) -> int:
        """Recipients per batch: the setting, or fewer when a rate limit would make them wait."""
        if self.feed_rate is None:
            return self.batch_size
        return max(1, min(self.batch_size, math.ceil(self.feed_rate * BATCH_SECONDS)))

    def run_batch(self, campaign_id: uuid.UUID) -> int:
        """Start the next batch; returns how many flows it started."""
        began = now()
        with Session(self.engine, expire_on_commit=False) as session:
            campaign = session.get(Campaign, campaign_id, with_for_update=True)
            if campaign is None or campaign.status != "running":
                return 0
            batch = session.exec(
                select(CampaignRecipient)
                .where(
                    CampaignRecipient.campaign_id == campaign_id,
                    CampaignRecipient.state == "pending",
                )
                .order_by(col(CampaignRecipient.line))
                .limit(self.batch_limit() + 1)
            ).all()
            todo, more = batch[: self.batch_limit()], len(batch) > self.batch_limit()
            started = sum(self._start(session, campaign, recipient) for recipient in todo)
            at = now()
            if more:
                # Spaced from this batch's start (its own work is not added to the spacing).
                wait = max(0.0, started / self.feed_rate - LEAD_SECONDS) if self.feed_rate else 0.0
                enqueue_batch(
                    session,
                    campaign_id,
                    after=todo[-1].line,
                    run_after=max(at, began + timedelta(seconds=wait)),
                )
            else:
                campaign.status, campaign.finished_at = "done", at
            campaign.updated_at = at
            session.add(campaign)
            session.commit()
        _logger.info("campaigns.batch", campaign=str(campaign_id), started=started, done=not more)
        return started

    def _start(self, session: Session, campaign: Campaign, recipient: CampaignRecipient) -> int:
        request = FlowStart(
            flow=campaign.flow,
            brand=campaign.brand,
            phone=recipient.phone_e164,
            variables=dict(recipient.variables),
            source="bulk",
            idempotency_key=idempotency_key(campaign.id, recipient.phone_e164),
            campaign_id=campaign.id,
        )
        try:
            with session.begin_nested():  # a refused or failed start leaves nothing behind
                outcome = self.starter(session, request)
        except SmsdeskError as exc:  # one recipient's bad data must not stop the campaign
            _logger.warning("campaigns.start_failed", campaign=str(campaign.id), error=repr(exc))
            recipient.state, recipient.reason = "failed", f"{exc.code}: {exc}"[:500]
        except IntegrityError:
            # The idempotency key is taken: this recipient's flow was started already (by an
            # earlier run of this campaign); starting it again would text them twice.
            recipient.state, recipient.reason = "started", "already started (idempotency key)"
        else:
            if isinstance(outcome, StartAccepted):
                recipient.state = "started"
                recipient.flow_run_id, recipient.message_id = outcome.run_id, outcome.message_id
            else:
                recipient.state, recipient.reason = "skipped", outcome.reason
        recipient.updated_at = now()
        session.add(recipient)
        return 1 if recipient.state == "started" else 0
