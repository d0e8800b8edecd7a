"""The AI responder: understand a passed text, answer it from the knowledge base, or hand it on.

One text is embedded once; the intent head, the sentiment head, the revocation check and
retrieval all read that vector. Local mode answers with the best entry's SMS answer; LLM mode
drafts from the retrieved entries and the last turns, and falls back to local on any failure.
Every draft passes the guardrails, and every decision is returned as a record the pipeline
stores with the message.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from app import log
from app.ai.escalation import Signals, Thresholds, asks_for_person, escalation_reasons
from app.ai.guardrails import check_draft, passed
from app.ai.knowledge import Intent
from app.ai.llm import LlmClient, LlmUnavailable, metered
from app.ai.models import AiModels
from app.config import Settings
from app.pipeline.responder import ResponderRequest, ResponderResult

_logger = log.get_logger("ai")
OPT_OUT_INSTRUCTION = "Reply STOP to opt out."


@dataclass(frozen=True, slots=True)
class Understanding:
    """What the AI layer read from one text."""

    intent: str
    confidence: float
    out_of_scope: bool
    needs_human: bool
    revocation: bool
    mode: str


class AiResponder:
    """The default responder: models load on first use (or `warm_up`), once per process."""

    def __init__(self, settings: Settings, models: AiModels | None = None) -> None:
        self.settings = settings
        self.thresholds = Thresholds.from_settings(settings)
        self._models = models
        self._llm: LlmClient | None = LlmClient(settings) if settings.llm_base_url else None
        self._lock = threading.Lock()

    @property
    def models(self) -> AiModels:
        """The loaded models (loading them the first time)."""
        with self._lock:
            if self._models is None:
                self._models = AiModels.load(self.settings)
            return self._models

    def warm_up(self) -> None:
        """Load the models and run one text through them, before the first customer's."""
        models = self.models
        models.intents.predict(models.encoder.encode(["hello"]))

    def respond(self, request: ResponderRequest) -> ResponderResult:
        """Decide on one passed text: a grounded reply, or a hand-off with the reasons."""
        with metered() as usage:
            result = self._respond(request)
        if usage.calls:
            result = replace(result, record={**result.record, "llm": usage.as_record()})
        return result

    def _respond(self, request: ResponderRequest) -> ResponderResult:
        started = time.perf_counter()
        models = self.models
        previous = _previous_question(request)
        vectors = models.encoder.encode([request.body, *([previous] if previous else [])])
        vector = vectors[0]
        revocation = models.revocations.similarity(vector)
        understanding = self._understand(request.body, vector, revocation)
        record: dict[str, Any] = {
            "mode": understanding.mode,
            "intent": understanding.intent,
            "confidence": round(understanding.confidence, 4),
            "out_of_scope": understanding.out_of_scope,
            # Who owns this kind of question: a hand-off goes to that team's queue.
            "team": None
            if understanding.out_of_scope
            else _team_of(models.kb.intents.get(understanding.intent or "")),
            "revocation_similarity": round(revocation, 4),
            "models": models.versions,
        }
        if understanding.revocation or revocation >= models.revocations.clear:
            return self._revoke(request, record, started)

        sentiment = models.sentiment.score(request.body, vector)
        hits = models.index.search(vector, k=3, text=request.body)
        best = hits[0] if hits else None
        signals = Signals(
            confidence=understanding.confidence,
            out_of_scope=understanding.out_of_scope,
            negative=sentiment.negative,
            retrieval_score=best.score if best else None,
            safety_language=request.decision.safety_escalation,
            compliance_handoff=request.decision.handoff,
            asked_for_person=asks_for_person(request.body),
            needs_human=understanding.needs_human,
            rephrase_similarity=float(vectors[0] @ vectors[1]) if previous else None,
        )
        reasons = list(escalation_reasons(signals, self.thresholds))
        if revocation >= models.revocations.borderline:
            reasons.insert(0, "possible_revocation")
        record |= {
            "sentiment": {
                "label": sentiment.label,
                "negative": round(sentiment.negative, 4),
                "flagged": sentiment.negative >= self.thresholds.negative_sentiment,
            },
            "retrieved": [
                {
                    "entry_id": hit.entry_id,
                    "score": round(hit.score, 4),
                    "matched_text": hit.matched_text,
                    "link": models.kb.entry(hit.entry_id).link,
                }
                for hit in hits
            ],
            "signals": {
                "asked_for_person": signals.asked_for_person,
                "rephrase_similarity": signals.rephrase_similarity,
            },
        }
        draft, sources = self._draft(request, hits, record) if best else (None, [])
        if draft is not None:
            checks = check_draft(
                draft,
                sources=sources,
                brand_name=self.settings.brand_name,
                first_message=request.first_outbound,
                opted_out=request.decision.new_state == "opted_out",
                max_chars=self.settings.max_reply_chars,
            )
            record["draft"] = draft
            record["guardrails"] = [
                {"name": c.name, "passed": c.passed, "detail": c.detail} for c in checks
            ]
            if not passed(checks):
                reasons.append("guardrail_failed")
        elif not reasons:
            reasons.append("no_knowledge")
        record["reasons"] = reasons
        record["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        _logger.info("ai.decided", intent=understanding.intent, reasons=reasons)
        if reasons:
            return ResponderResult(handoff_reasons=tuple(reasons), record=record)
        return ResponderResult(reply=draft, record=record)

    def _understand(
        self, text: str, vector: np.ndarray[Any, Any], revocation: float
    ) -> Understanding:
        models = self.models
        (local,) = models.intents.predict(vector)
        if self._llm is not None:
            try:
                answer = self._llm.classify(
                    text, intents=models.intent_catalogue, examples=models.examples_like(vector)
                )
            except LlmUnavailable as exc:
                _logger.warning("ai.llm_fallback", step="classify", error=str(exc))
            else:
                known = answer.intent in models.kb.intents
                return Understanding(
                    intent=answer.intent if known else local.intent,
                    confidence=answer.confidence if known else 0.0,
                    out_of_scope=not known,
                    needs_human=answer.needs_human,
                    revocation=answer.revocation_intent,
                    mode="llm",
                )
        return Understanding(
            intent=local.intent,
            confidence=local.confidence,
            out_of_scope=local.out_of_scope,
            needs_human=False,
            revocation=False,
            mode="local",
        )

    def _draft(
        self, request: ResponderRequest, hits: list[Any], record: dict[str, Any]
    ) -> tuple[str | None, list[str]]:
        models = self.models
        entries = [models.kb.entry(hit.entry_id) for hit in hits]
        sources = [f"{e.answer} {e.link or ''} {e.body}" for e in entries]
        body: str | None = None
        if self._llm is not None:
            knowledge = "\n\n".join(
                f"[{e.id}] Q: {e.question}\nA: {e.answer}\nLink: {e.link or '-'}\n{e.body}"
                for e in entries
            )
            history = [
                ("Customer" if t.direction == "inbound" else "Us", t.body) for t in request.history
            ]
            try:
                body = self._llm.draft(request.body, knowledge=knowledge, history=history)
                record["draft_mode"] = "llm"
            except LlmUnavailable as exc:
                _logger.warning("ai.llm_fallback", step="draft", error=str(exc))
        if body is None:
            body = entries[0].sms_reply()
            sources = sources[:1]
            record["draft_mode"] = "local"
        record["entry_id"] = entries[0].id  # the entry the reply answers from
        return self._personalise(body, request), sources

    def _personalise(self, body: str, request: ResponderRequest) -> str:
        if not request.first_outbound:
            return body
        # MSG-2: the first text to a customer names the brand and says how to opt out.
        brand = self.settings.brand_name
        named = body if brand.lower() in body.lower() else f"{brand}: {body}"
        return f"{named} {OPT_OUT_INSTRUCTION}"

    def _revoke(
        self, request: ResponderRequest, record: dict[str, Any], started: float
    ) -> ResponderResult:
        # SPEC §7 AI-1: a revocation the rules missed is recorded through the compliance
        # layer's tool, never answered.
        record["reasons"] = ["ai_detected_revocation"]
        record["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        if request.opt_out is None:
            return ResponderResult(handoff_reasons=("possible_revocation",), record=record)
        decision = request.opt_out("the AI read a request to stop texting", request.body[:500])
        _logger.info("ai.revocation", mode=record["mode"])
        return ResponderResult(revocation=decision, record=record)


def _previous_question(request: ResponderRequest) -> str | None:
    """The customer's previous text when the bot answered it last (a rephrase check)."""
    history = request.history
    if (
        len(history) >= 2
        and history[-1].direction == "outbound"
        and history[-2].direction == "inbound"
    ):
        return history[-2].body
    return None


def _team_of(intent: Intent | None) -> str | None:
    return intent.team if intent is not None else None
