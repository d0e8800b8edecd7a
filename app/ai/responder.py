"""The AI responder: read a passed text in its conversation, run the decision steps in their
order (`app.pipeline.steps.AI_STEPS`), check the reply, and return one typed decision with the
record of what it saw.

Local mode answers with the chosen entry's SMS answer; LLM mode lets the LLM classify the text
and draft from the retrieved entries, under the same steps and guardrails, and falls back to
local on any failure. When the LLM finds no answer in the knowledge, nothing is sent: a person
takes over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any

from app import log
from app.ai.guardrails import check_draft, passed
from app.ai.knowledge import load_knowledge
from app.ai.knowledge_version import VersionStamp, fingerprint, stamp_path
from app.ai.llm import LlmClient, LlmUnavailable, metered
from app.ai.models import AiModels
from app.ai.own_records import ENTRY_PREFIX
from app.ai.policy import Context, Thresholds
from app.ai.reading import read, texts_of
from app.config import Settings
from app.errors import ConfigurationError
from app.pipeline.decision import (
    Answer,
    Clarify,
    Close,
    Decided,
    Decision,
    HandOff,
    Reason,
    Reply,
)
from app.pipeline.responder import ResponderRequest
from app.pipeline.wording import wording_for

_logger = log.get_logger("ai")


class AiResponder:
    """The default responder: models load on first use (or `warm_up`), once per process."""

    def __init__(self, settings: Settings, models: AiModels | None = None) -> None:
        self.settings = settings
        self.thresholds = Thresholds.from_settings(settings)
        self.wording = wording_for(settings)
        self._models = models
        self._llm: LlmClient | None = LlmClient(settings) if settings.llm_base_url else None
        self._lock = threading.Lock()
        self._stamp = VersionStamp(stamp_path(settings))
        self._handled: str | None = None
        """The last announced version this process acted on (loaded, or found unloadable)."""
        self.intent_trainer: Callable[[AiModels], AiModels] = lambda m: m.with_intents(settings)
        self.retraining: threading.Thread | None = None
        """The background retraining of the intent classifier after a reload, while it runs."""

    @property
    def models(self) -> AiModels:
        """The loaded models (loading them the first time), on the announced knowledge."""
        with self._lock:
            announced = self._stamp.announced()  # one stat: the per-text cost of hot reload
            if self._models is None:
                self._models = AiModels.load(self.settings)  # the folder as it is now
            elif announced is not None and announced != self._handled:
                self._reload(self._models)
            self._handled = announced
            return self._models

    def reload_knowledge(self) -> bool:
        """Load the knowledge folder as it is now, if it differs from the loaded one (a
        hot reload; never loads the models for the first time). True if it changed."""
        with self._lock:
            if self._models is None:
                return False
            return self._reload(self._models)

    def _reload(self, current: AiModels) -> bool:
        # Under self._lock: texts on other threads wait for the swap, never see half of it.
        started = time.perf_counter()
        version = fingerprint(self.settings.knowledge_dir)
        if version == current.version:
            return False
        try:
            kb = load_knowledge(self.settings.knowledge_dir)
            models, report = current.with_knowledge(self.settings, kb, version)
            retrain = models.retrain_needed()
        except ConfigurationError as exc:
            # Validated before it was announced, so this is a hand edit in progress (or an
            # unreadable out_of_scope.yaml): keep answering with what is loaded, until the
            # next announcement, rather than fail every text.
            _logger.warning("ai.knowledge_reload_refused", error=str(exc).splitlines()[0])
            return False
        self._models = models
        if self.retraining is None and retrain:
            self.retraining = threading.Thread(
                target=self._retrain, name="intent-retraining", daemon=True
            )
            self.retraining.start()
        _logger.info(
            "ai.knowledge_reloaded",
            added=len(report.added),
            updated=len(report.updated),
            removed=len(report.removed),
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return True

    def _retrain(self) -> None:
        """Retrain the intent classifier on the loaded knowledge, off the texts' path (up to
        a minute), and swap it in if that knowledge is still the loaded one."""
        while True:
            with self._lock:
                models = self._models
                if models is None or not models.retrain_needed():
                    self.retraining = None
                    return
            try:
                trained = self.intent_trainer(models)
            except Exception:  # a background thread: log it, keep the classifier we have
                _logger.exception("ai.intents_retrain_failed", version=models.version)
                with self._lock:
                    self.retraining = None
                return
            with self._lock:
                current = self._models
                if current is not None and current.version == models.version:
                    self._models = replace(
                        current,
                        intents=trained.intents,
                        examples=trained.examples,
                        example_vectors=trained.example_vectors,
                    )
                    _logger.info("ai.intents_retrained", version=models.version)

    def warm_up(self) -> None:
        """Load the models and run one text through them, before the first customer's."""
        models = self.models
        models.intents.predict(models.encoder.encode(["hello"]))

    def prepare(self, bodies: Sequence[str]) -> AbstractContextManager[object]:
        """Encode a batch of texts in one model call, for this thread's `respond` calls on
        them while the context is open (a worker's batch of jobs): about a third of the
        encoder's time per text. Never loads the models (an optimisation must not wait)."""
        models = self._models
        if models is None or not bodies:
            return nullcontext()
        return models.encoder.primed([t for body in bodies for t in texts_of(models, body)])

    def respond(self, request: ResponderRequest) -> Decided:
        """One typed decision for a passed text, and the record of what was read."""
        with metered() as usage:
            decided = self._respond(request)
        if usage.calls:
            decided = replace(decided, record={**decided.record, "llm": usage.as_record()})
        return decided

    def _respond(self, request: ResponderRequest) -> Decided:
        from app.pipeline.steps import AI_STEPS

        started = time.perf_counter()
        models = self.models
        reading = read(models, request)
        ctx = Context(request, reading, models, self.thresholds, self.wording)
        ctx.record |= reading.record() | {"mode": "local", "models": models.versions}
        self._llm_understanding(ctx)
        ctx.record["retrieved"] = [
            {
                "entry_id": hit.entry_id,
                "score": round(hit.score, 4),
                "matched_text": hit.matched_text,
                "link": models.kb.entry(hit.entry_id).link,
            }
            for hit in (reading.context_hits or reading.hits)
        ]
        decision: Decision = next(
            (found for step in AI_STEPS if (found := step(ctx)) is not None),
            ctx.handoff(Reason.no_knowledge),
        )
        if isinstance(decision, Reply):
            decision = self._draft(ctx, decision)
        ctx.record |= _describe(decision)
        ctx.record["team"] = decision.team if isinstance(decision, HandOff) else None
        ctx.record["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        _logger.info("ai.decided", decision=ctx.record["decision"], reasons=ctx.record["reasons"])
        return Decided(decision, ctx.record)

    def _llm_understanding(self, ctx: Context) -> None:
        """With an LLM: its intent and flags replace the local intent head's."""
        if self._llm is None:
            return
        models = ctx.models
        try:
            answer = self._llm.classify(
                ctx.request.body,
                intents=models.intent_catalogue,
                examples=models.examples_like(ctx.reading.vector),
            )
        except LlmUnavailable as exc:
            _logger.warning("ai.llm_fallback", step="classify", error=str(exc))
            return
        ctx.record["mode"] = "llm"
        known = answer.intent in models.kb.intents
        intent = ctx.reading.intent
        ctx.reading.intent = replace(
            intent,
            intent=answer.intent if known else intent.intent,
            confidence=answer.confidence if known else 0.0,
            out_of_scope=not known,
            top=[(answer.intent, answer.confidence)] if known else intent.top,
        )
        ctx.record |= {"intent": ctx.reading.intent.intent, "confidence": answer.confidence}
        if answer.revocation_intent:
            ctx.record["llm_revocation"] = True
        if answer.needs_human:
            ctx.record["llm_needs_human"] = True

    def _draft(self, ctx: Context, reply: Reply) -> Decision:
        """LLM wording when configured, then the guardrails on every text that would go out."""
        models = ctx.models
        if reply.entries[0].startswith(ENTRY_PREFIX):
            return self._check_records(ctx, reply)
        entries = [models.kb.entry(a.entry_id) for a in reply.answers]
        answers = list(reply.answers)
        if self._llm is not None and len(entries) == 1:
            hits = ctx.reading.context_hits or ctx.reading.hits
            sources = [models.kb.entry(h.entry_id) for h in hits]
            knowledge = "\n\n".join(
                f"[{e.id}] Q: {e.question}\nA: {e.answer}\nLink: {e.link or '-'}\n{e.body}"
                for e in sources
            )
            history = [
                ("Customer" if t.direction == "inbound" else "Us", t.body)
                for t in ctx.request.history
            ]
            try:
                body = self._llm.draft(ctx.request.body, knowledge=knowledge, history=history)
            except LlmUnavailable as exc:
                _logger.warning("ai.llm_fallback", step="draft", error=str(exc))
            else:
                if body is None:  # the LLM found no answer: never send the top entry anyway
                    ctx.record["draft_mode"] = "llm"
                    return ctx.handoff(Reason.not_answerable)
                answers = [Answer(entries[0].id, body)]
                ctx.record["draft_mode"] = "llm"
                entries = sources
        ctx.record.setdefault("draft_mode", "local")
        known = [f"{e.answer} {e.answer_es or ''} {e.link or ''} {e.body}" for e in entries]
        checks = [
            check
            for index, a in enumerate(answers)
            for check in check_draft(
                a.text,
                sources=known,
                brand_name=self.settings.brand_name,
                first_message=False,  # the processor names the brand on a first text
                opted_out=ctx.request.decision.new_state == "opted_out",
                max_chars=self.settings.max_reply_chars,
            )
            if index == 0 or not check.passed
        ]
        ctx.record["guardrails"] = [
            {"name": c.name, "passed": c.passed, "detail": c.detail} for c in checks
        ]
        if not passed(checks):
            return ctx.handoff(Reason.guardrail_failed, draft=answers[0].text)
        return replace(reply, answers=tuple(answers))

    def _check_records(self, ctx: Context, reply: Reply) -> Decision:
        """The guardrails on a reply worded from the customer's records (never an LLM draft:
        their records are sent as they are on file)."""
        text = reply.answers[0].text
        checks = check_draft(
            text,
            sources=[text],
            brand_name=self.settings.brand_name,
            first_message=False,
            opted_out=ctx.request.decision.new_state == "opted_out",
            max_chars=self.settings.max_reply_chars,
        )
        ctx.record["draft_mode"] = "records"
        ctx.record["guardrails"] = [
            {"name": c.name, "passed": c.passed, "detail": c.detail} for c in checks
        ]
        if not passed(checks):
            return ctx.handoff(Reason.guardrail_failed, draft=text)
        return reply


def _describe(decision: Decision) -> dict[str, Any]:
    """The decision as the record stores it (the console and the evals read these keys)."""
    kind = Decided(decision).kind
    described: dict[str, Any] = {"decision": kind, "reasons": []}
    if isinstance(decision, Reply):
        described |= {
            "entries": list(decision.entries),
            "entry_id": decision.entries[0],
            "draft": "\n".join(a.text for a in decision.answers),
        }
    elif isinstance(decision, HandOff):
        described |= {
            "reasons": [r.value for r in decision.reasons],
            "priority": decision.priority,
            "draft": decision.draft,
        }
    elif isinstance(decision, Clarify):
        described["options"] = [
            {"number": o.number, "label": o.label, "entry_id": o.entry_id} for o in decision.options
        ]
        described["draft"] = decision.text
    elif isinstance(decision, Close):
        described["draft"] = decision.text
    return described
