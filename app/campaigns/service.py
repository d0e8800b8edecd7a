"""Creating a bulk send, its dry run, and its progress (keyword-only data functions, no HTTP).

The dry run asks the compliance layer's own gate (`Compliance.check_outbound`, nothing recorded)
what it would say about each recipient now, so it can never disagree with the send-time gate
about the rules; only time can (an opt-out or a send in between).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from app.campaigns.contract import FlowInfo
from app.campaigns.recipients import LineProblem, RecipientErrors, RecipientList
from app.compliance.model import GateDecision, GateRequest
from app.compliance.service import Compliance
from app.storage.messages import enqueue, now
from app.storage.tables import Campaign, CampaignRecipient, Message

RUN_CAMPAIGN = "run_campaign"
STATES = ("pending", "started", "skipped", "failed")
# Gate rules that mean "never, for this recipient" and the skip reason a report shows.
_SKIP_REASONS = {
    "opted_out": "opted_out",
    "no_marketing_consent": "no_marketing_consent",
    "non_us_marketing_out_of_scope": "non_us_number",
    "unknown_location": "unknown_location",
    "content_blocked": "content_blocked",
}


@dataclass(frozen=True)
class DryRunEntry:
    """What would happen to one line: `send` now, `later` (quiet hours, a cap) or `skip`."""

    line: int
    phone: str
    outcome: str
    reason: str | None = None
    detail: str = ""
    send_at: str | None = None
    """For `later`: the first instant the gate would let the text go (UTC, ISO 8601)."""


@dataclass(frozen=True)
class DryRunReport:
    """Who would get the flow's first text, who later and who not, and why."""

    flow: str
    category: str
    checked_at: datetime
    entries: tuple[DryRunEntry, ...]

    def counts(self) -> dict[str, int]:
        """How many would be sent now, later, and skipped per reason."""
        counts: Counter[str] = Counter()
        for entry in self.entries:
            counts[entry.outcome if entry.outcome != "skip" else f"skip:{entry.reason}"] += 1
        return dict(sorted(counts.items()))


def dry_run(
    compliance: Compliance,
    *,
    flow: FlowInfo,
    recipients: RecipientList,
    brand: str,
    at: datetime | None = None,
) -> DryRunReport:
    """Judge every recipient with the send-time gate at `at` (now), sending and recording nothing.

    Lines with problems (bad number, duplicate, missing variable) are reported as skips too."""
    at = at or now()
    entries = [_problem_entry(problem) for problem in recipients.problems]
    for recipient in recipients.recipients:
        decision = compliance.check_outbound(
            GateRequest(recipient.phone, at, flow.category), brand=brand, record=False
        )
        entries.append(_gate_entry(recipient.line, recipient.phone, decision))
    entries.sort(key=lambda entry: entry.line)
    return DryRunReport(flow.name, flow.category, at, tuple(entries))


def _problem_entry(problem: LineProblem) -> DryRunEntry:
    return DryRunEntry(problem.line, "", "skip", problem.kind, problem.message)


def _gate_entry(line: int, phone: str, decision: GateDecision) -> DryRunEntry:
    detail = "; ".join(decision.reasons)
    if decision.allowed:
        return DryRunEntry(line, phone, "send")
    if decision.rule in _SKIP_REASONS:
        return DryRunEntry(line, phone, "skip", _SKIP_REASONS[decision.rule], detail)
    if decision.next_allowed_utc is None:
        return DryRunEntry(line, phone, "skip", "no_allowed_time", detail)
    capped = any(" cap" in reason for reason in decision.reasons)
    reason = "frequency_cap" if capped else "quiet_hours"
    return DryRunEntry(line, phone, "later", reason, detail, decision.next_allowed_utc)


def create_campaign(
    engine: Engine,
    *,
    flow: FlowInfo,
    recipients: RecipientList,
    brand: str,
    name: str | None,
    source: str,
) -> Campaign:
    """Store the campaign, its recipients (pending) and its first batch job in one commit.

    Raises `RecipientErrors` (nothing stored) when any line has a problem."""
    if recipients.problems:
        raise RecipientErrors("recipients", recipients.problems)
    at = now()
    campaign = Campaign(
        brand=brand,
        flow=flow.name,
        name=(name or f"{flow.name} {at:%Y-%m-%d %H:%M}")[:200],
        category=flow.category,
        source=source,
        status="running",
        total=len(recipients.recipients),
        created_at=at,
        updated_at=at,
    )
    with Session(engine, expire_on_commit=False) as session:
        session.add(campaign)
        session.flush()  # the campaign row before its recipients (PostgreSQL checks the key)
        session.add_all(
            CampaignRecipient(
                campaign_id=campaign.id,
                line=r.line,
                phone_e164=r.phone,
                variables=r.variables,
                state="pending",
                updated_at=at,
            )
            for r in recipients.recipients
        )
        enqueue_batch(session, campaign.id, after=0)
        session.commit()
    return campaign


def enqueue_batch(
    session: Session, campaign_id: uuid.UUID, *, after: int, run_after: datetime | None = None
) -> None:
    """Queue the campaign's next batch (recipients after line `after`), once per position."""
    enqueue(
        session,
        kind=RUN_CAMPAIGN,
        key=f"campaign|{campaign_id}",
        payload={"campaign_id": str(campaign_id)},
        dedupe_key=f"campaign:{campaign_id}:{after}",
        run_after=run_after,
    )


@dataclass(frozen=True)
class CampaignProgress:
    """Where a campaign stands: recipients per state and skips per reason."""

    id: uuid.UUID
    name: str
    flow: str
    status: str
    total: int
    states: dict[str, int]
    skipped: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    texts: dict[str, int] = field(default_factory=dict)
    """The campaign's first texts per message status (queued, scheduled, sent, ...)."""
    created_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def done(self) -> bool:
        """No recipient is left to start."""
        return self.status == "done"


def campaign_progress(engine: Engine, campaign_id: uuid.UUID) -> CampaignProgress | None:
    """The campaign's progress, or None when there is no such campaign."""
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            return None
        rows = session.exec(
            select(CampaignRecipient.state, CampaignRecipient.reason, func.count())
            .where(CampaignRecipient.campaign_id == campaign_id)
            .group_by(col(CampaignRecipient.state), col(CampaignRecipient.reason))
        ).all()
        texts = session.exec(
            select(Message.status, func.count())
            .where(Message.campaign_id == campaign_id)
            .group_by(col(Message.status))
        ).all()
    states = dict.fromkeys(STATES, 0)
    skipped: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for state, reason, count in rows:
        states[state] = states.get(state, 0) + count
        if state == "skipped":
            skipped[reason or "unknown"] += count
        elif state == "failed":
            failed[(reason or "unknown")[:80]] += count
    return CampaignProgress(
        id=campaign.id,
        name=campaign.name,
        flow=campaign.flow,
        status=campaign.status,
        total=campaign.total,
        states=states,
        skipped=dict(skipped),
        failed=dict(failed),
        texts=dict(texts),
        created_at=campaign.created_at,
        finished_at=campaign.finished_at,
    )
