"""The pipeline's flow step: is this text an answer to a flow's waiting question, and what
follows from it.

`decide` reads (outside any transaction, like the AI layer's steps) and returns one typed
`FlowAnswer` or None (not an answer: the normal pipeline takes the text, the run keeps
waiting). `act` runs inside the processor's transaction with everything else the text causes,
so a re-run job (the message already `processed`) never acts twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from app import log
from app.flows.matching import (
    Match,
    MeaningMatcher,
    TextEncoder,
    exact_key,
    leading_key,
    looks_like_an_answer,
    yes_or_no,
)
from app.flows.runs import FLOW_PURPOSE, Flows, active_run, finish, node_of, offered
from app.flows.schema import Choice, Flow, Node
from app.flows.webhooks import enqueue_webhook
from app.pipeline.decision import Decided, FlowAnswer, HandOff, Reason
from app.storage.tables import FlowRun, Message

_logger = log.get_logger("flows")


@dataclass(frozen=True)
class FlowEffects:
    """What acting on an answer asks of the processor: texts to send and maybe a person."""

    texts: list[tuple[str, str]] = field(default_factory=list)
    handoff: HandOff | None = None


@dataclass
class FlowStep:
    """Reads replies against the flows' questions and moves the runs on."""

    flows: Flows
    min_score: float = 0.55
    margin: float = 0.05
    _matcher: MeaningMatcher | None = None

    def decide(
        self, engine: Engine, *, conversation_id: uuid.UUID, body: str, at: datetime,
        encoder: TextEncoder | None,
    ) -> Decided | None:  # fmt: skip
        """The text as an answer to the conversation's waiting question, or None.

        `encoder` None (the AI is loading, failed or off): only option keys and yes/no count.
        """
        with Session(engine) as session:
            run = active_run(session, conversation_id=conversation_id)
        if run is None or run.node is None:
            return None
        if run.expires_at is not None and at > run.expires_at:
            return None  # an old "1" is not an answer to a question long gone
        flow = self.flows.catalogue.get(run.flow)
        node = node_of(flow, run) if flow is not None else None
        if flow is None or node is None:
            return None
        match = self._match(run, node, body, encoder)
        if match is None and not looks_like_an_answer(body):
            return None
        answer = FlowAnswer(
            run_id=run.id,
            flow=run.flow,
            node=run.node,
            option=match.key if match else None,
            matched_by=match.by if match else None,
            score=match.score if match else None,
        )
        record = {
            "decision": "flow",
            "flow": answer.flow,
            "node": answer.node,
            "option": answer.option,
            "matched_by": answer.matched_by,
            "score": answer.score,
        }
        return Decided(answer, record)

    def _match(
        self, run: FlowRun, node: Node, body: str, encoder: TextEncoder | None
    ) -> Match | None:
        if encoder is not None and (self._matcher is None or self._matcher.encoder is not encoder):
            self._matcher = MeaningMatcher(encoder, min_score=self.min_score, margin=self.margin)
        return read_reply(node, offered(run), body, self._matcher if encoder else None)

    def act(self, session: Session, message: Message, answer: FlowAnswer) -> FlowEffects:
        """Record the answer on its run and follow the option, in the caller's transaction."""
        run = session.get(FlowRun, answer.run_id, with_for_update=True)
        flow = self.flows.catalogue.get(answer.flow)
        if run is None or flow is None or run.status != "active" or run.node != answer.node:
            return FlowEffects()  # the run moved on meanwhile (a new flow was started)
        node = flow.nodes[answer.node]
        run.first_reply_at = run.first_reply_at or message.created_at
        session.add(run)
        if answer.option is None:
            return self._unrecognised(session, run, flow, node)
        run.answers = [
            *run.answers,
            {
                "node": answer.node,
                "option": answer.option,
                "text": message.body,
                "at": message.created_at.isoformat(),
            },
        ]
        choice, picked = _choice(node, run, answer.option)
        _logger.info("flows.answered", flow=flow.name, node=answer.node, by=answer.matched_by)
        return self._follow(session, run, flow, choice, picked)

    def _unrecognised(self, session: Session, run: FlowRun, flow: Flow, node: Node) -> FlowEffects:
        run.unrecognised += 1
        if run.unrecognised >= flow.handoff_after:
            finish(session, run, "handed_off")
            return FlowEffects(handoff=HandOff((Reason.flow_needs_person,)))
        text = self.flows.render(node.fallback or flow.fallback, run)
        return FlowEffects([(text, FLOW_PURPOSE)])

    def _follow(
        self, session: Session, run: FlowRun, flow: Flow, choice: Choice, picked: str
    ) -> FlowEffects:
        texts: list[tuple[str, str]] = []
        if choice.text:
            texts.append((self.flows.render(choice.text, run, choice=picked), FLOW_PURPOSE))
        if choice.outcome:
            run.outcome = choice.outcome
        if choice.webhook:
            url = flow.webhook_url or self.flows.webhook_url
            enqueue_webhook(session, run, event=choice.webhook, url=url, picked=picked)
        if choice.handoff is not None:
            finish(session, run, "handed_off")
            return FlowEffects(
                texts, HandOff((Reason.flow_needs_person,), team=choice.handoff.team)
            )
        if choice.next is None:
            finish(session, run, "completed")
            return FlowEffects(texts)
        question = self.flows.ask(run, flow, choice.next, None)
        session.add(run)
        offer = flow.nodes[choice.next].offer
        if question is None and offer is not None:
            more = self._follow(session, run, flow, offer.when_empty, "")  # nothing to offer
            return FlowEffects(texts + more.texts, more.handoff)
        if question:
            texts.append((question, FLOW_PURPOSE))
        return FlowEffects(texts)


def read_reply(
    node: Node, offered: Sequence[str], body: str, matcher: MeaningMatcher | None
) -> Match | None:
    """How one text reads against one question: the option (or offered item's number) it
    picks, or None. Pure: the pipeline and `smsdesk eval flow-replies` both read with it.

    `offered` are the items the question offered (numbered from 1); `matcher` None (the AI is
    loading, failed or off): only option keys and yes/no count.
    """
    if node.free_text is not None:
        return Match("text", "free_text")
    keys = list(node.options) + [str(i) for i in range(1, len(offered) + 1)]
    key = exact_key(body, keys) or leading_key(body, keys)
    if key is not None:
        return Match(key, "key")
    said = yes_or_no(body)
    meant = [k for k, c in node.options.items() if said is not None and c.means == said]
    if len(meant) == 1:
        return Match(meant[0], "yes_no")
    if matcher is None:
        return None
    return matcher.match(body, {k: c.examples for k, c in node.options.items()})


def _choice(node: Node, run: FlowRun, option: str) -> tuple[Choice, str]:
    """The choice an option key stands for, and the offered item it picks (if any)."""
    if node.free_text is not None:
        return node.free_text, ""
    if option in node.options:
        return node.options[option], node.options[option].label or option
    assert node.offer is not None, "keys outside the options are the offer's numbers"
    return node.offer.choice, offered(run)[int(option) - 1]


def settle_expired(session: Session, *, conversation_id: uuid.UUID, at: datetime) -> None:
    """Mark the conversation's run `expired` when its question stopped taking answers."""
    run = active_run(session, conversation_id=conversation_id)
    if run is not None and run.expires_at is not None and at > run.expires_at:
        finish(session, run, "expired")


EncoderSource = Callable[[], TextEncoder | None]
"""The sentence encoder when the AI layer is loaded (None otherwise: only keys count)."""
