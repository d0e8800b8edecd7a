"""The AI layer's decision steps: each reads the text's `Reading` in its conversation and
returns a `Decision` or passes on. Their order is set in one place,
`app.pipeline.steps.AI_STEPS`; the first step that decides wins.

    safety -> revocation -> closing -> clarified -> own records -> needs a person -> answer
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from app.ai.escalation import frustrated
from app.ai.index import Hit
from app.ai.intents import IntentPrediction
from app.ai.knowledge import KnowledgeEntry
from app.ai.models import AiModels
from app.ai.reading import Reading
from app.config import Settings
from app.pipeline.decision import (
    Answer,
    Clarify,
    Close,
    Decision,
    HandOff,
    Option,
    OptOut,
    Reason,
    Reply,
)
from app.pipeline.responder import ResponderRequest
from app.pipeline.wording import Wording

_HANDOFF_REASONS = {
    "person": Reason.asked_for_person,
    "complaint": Reason.complaint,
    "legal": Reason.legal,
    "fraud": Reason.fraud,
    "account": Reason.account_specific,
}
_CLOSING_WORDS = frozenset(
    """thanks thank you u thx ty tysm ok okay k kk got it perfect cool great awesome gracias so
    much very appreciate appreciated sounds good will do alright all right nice sweet
    excellent wonderful amazing muchas vale bueno listo perfecto genial np""".split()
)
_THANKS = re.compile(r"\b(?:thank|thanks|thx|ty|tysm|appreciate|gracias)\b")
# A question about what something costs (not "price adjustment policy?").
_PRICE = re.compile(
    r"\bhow much\b|\bwhat (?:does|do|is|would|will) (?:\w+ ){0,4}(?:cost|charge)\b|"
    r"\b(?:price|prices|cost|costs) (?:of|for|on)\b|\bcharge for\b|\bfee for\b|"
    r"\bwhat do you charge\b|\$\d"
)
_PRICE_WORDS = frozenset(
    """how much price prices pricing cost costs charge charges fee fees does do what is it are
    the for of on your you""".split()
)
_STOPWORDS = frozenset(
    """the a an and or but is are was were be do does did you your i my me we our it this that
    what when where how why who which can could would will have has had to of in on at for
    with from not no yes please thanks hi hello there any some much many more get got how's
    whats""".split()
)


@dataclass(frozen=True)
class Thresholds:
    """The configurable edges of the policy (SMSDESK_* settings)."""

    min_confidence: float = 0.5
    negative_sentiment: float = 0.8
    min_retrieval_score: float = 0.45
    sure_retrieval_score: float = 0.62
    """At or above: the entry answers even when the intent head disagrees."""
    sibling_margin: float = 0.04
    """Entries this close for a short text: ask which one is meant."""
    person_intent: float = 0.7
    handoff_intent: float = 0.6

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        """The thresholds configured for this deployment."""
        return cls(
            min_confidence=settings.intent_min_confidence,
            negative_sentiment=settings.negative_sentiment_threshold,
            min_retrieval_score=settings.retrieval_min_score,
        )


@dataclass
class Context:
    """One text being decided: the request, what was read, and the record being written."""

    request: ResponderRequest
    reading: Reading
    models: AiModels
    thresholds: Thresholds
    wording: Wording
    record: dict[str, Any] = field(default_factory=dict)

    def team(self, entry_id: str | None = None) -> str | None:
        """Who owns the question: the entry's team, else the intent's."""
        kb = self.models.kb
        if entry_id is not None:
            return kb.team_for(kb.entry(entry_id))
        intent = kb.intents.get(self.reading.intent.intent)
        return intent.team if intent is not None and not self.reading.intent.out_of_scope else None

    def handoff(self, *reasons: Reason, draft: str | bool | None = True) -> HandOff:
        """A hand-off for these reasons, routed to the question's team; the agent gets the
        relevant entry's answer as a draft unless `draft` says otherwise."""
        text = _relevant_draft(self) if draft is True else (draft or None)
        return HandOff(reasons, team=self.team(), language=self.reading.language, draft=text)


def revocation(ctx: Context) -> Decision | None:
    """SPEC §7: a request to stop texting that the keyword rules missed. A clear one is
    recorded through the compliance layer's tool (enforced like a STOP); a borderline one goes
    to a person."""
    revocations = ctx.models.revocations
    similarity = ctx.reading.revocation
    if similarity >= revocations.clear or ctx.record.get("llm_revocation"):
        if ctx.request.opt_out is None:
            return ctx.handoff(Reason.possible_revocation)
        recorded = ctx.request.opt_out(
            "the AI read a request to stop texting", ctx.request.body[:500]
        )
        return OptOut(recorded)
    if similarity >= revocations.borderline:
        return ctx.handoff(Reason.possible_revocation)
    return None


def safety(ctx: Context) -> Decision | None:
    """Crisis or danger, in any words and at any hour: a person first, no draft."""
    reading = ctx.reading
    if ctx.request.decision.safety_escalation or (reading.safety and reading.safety.danger):
        return HandOff((Reason.safety,), team=None, language=reading.language)
    return None


def picture(ctx: Context) -> Decision | None:
    """A picture with no words: nothing to read, and no thanks to close on; a person looks at
    it (an empty body is otherwise read as a bare emoji and closed politely)."""
    if ctx.request.has_media and not ctx.request.body.strip():
        return ctx.handoff(Reason.media_received, draft=False)
    return None


def closing(ctx: Context) -> Decision | None:
    """A thanks, an ok or a thumbs-up: close politely, never a queue item."""
    words = re.findall(r"[^\W\d_]+", ctx.reading.plain.casefold())
    only_emoji = not words and not any(ch.isdigit() for ch in ctx.reading.text)
    if not (only_emoji or (words and set(words) <= _CLOSING_WORDS)):
        return None
    previous = ctx.request.previous
    thanked = bool(_THANKS.search(ctx.reading.plain))
    already_closed = previous is not None and previous.kind == "close"
    if thanked and not already_closed and ctx.request.queue == "none":
        return Close(ctx.wording.close(ctx.reading.language))
    return Close(None)


def clarified(ctx: Context) -> Decision | None:
    """The answer to our clarifying question: a number, or words of one option."""
    previous = ctx.request.previous
    if previous is None or previous.kind != "clarify" or not previous.options:
        return None
    plain = ctx.reading.plain.strip().casefold()
    number = re.fullmatch(r"\(?#?(\d)\)?[.!]?(?: please| pls)?", plain)
    chosen: Option | None = None
    if number is not None:
        chosen = next((o for o in previous.options if o.number == int(number.group(1))), None)
    else:
        allowed = {o.entry_id for o in previous.options}
        hits = [h for h in ctx.reading.hits if h.entry_id in allowed]
        if hits and hits[0].score >= ctx.thresholds.min_retrieval_score - 0.1:
            chosen = next(o for o in previous.options if o.entry_id == hits[0].entry_id)
    if chosen is None:
        return None
    return _reply(ctx, [ctx.models.kb.entry(chosen.entry_id)])


def needs_person(ctx: Context) -> Decision | None:
    """Asking for a person, anger, a legal or fraud matter, or an intent the knowledge base
    always hands to a person."""
    reading = ctx.reading
    reasons = person_reasons(ctx)
    intent = ctx.models.kb.intents.get(reading.intent.intent)
    if intent is not None and intent.handoff is not None and not reading.intent.out_of_scope:
        needed = (
            ctx.thresholds.person_intent
            if intent.handoff == "person"
            else ctx.thresholds.handoff_intent
        )
        if reading.intent.confidence >= needed and not _sure_answer(ctx):
            reasons.append(_HANDOFF_REASONS[intent.handoff])
    if not reasons:
        return None
    unique = tuple(dict.fromkeys(reasons))
    return ctx.handoff(*unique)


def person_reasons(ctx: Context) -> list[Reason]:
    """What in the text itself needs a person, whatever it asks: a request for one, a legal
    or fraud matter, an account lookup, anger or a complaint."""
    reading = ctx.reading
    reasons: list[Reason] = []
    if reading.asks_for_person:
        reasons.append(Reason.asked_for_person)
    if reading.legal:
        reasons.append(Reason.legal)
    if reading.fraud:
        reasons.append(Reason.fraud)
    if reading.account:
        reasons.append(Reason.account_specific)
    if ctx.record.get("llm_needs_human"):
        reasons.append(Reason.llm_needs_human)
    tone = reading.tone
    negative = reading.sentiment.negative
    if tone is not None and frustrated(tone, negative, ctx.thresholds.negative_sentiment):
        reasons.append(Reason.negative_sentiment if not tone.complaint else Reason.complaint)
    return reasons


def answer(ctx: Context) -> Decision | None:
    """Answer from the entry that covers the question, ask which sibling is meant, or hand
    off because nothing covers it."""
    reading = ctx.reading
    thresholds = ctx.thresholds
    hits = _hits(ctx)
    if not hits:
        return ctx.handoff(Reason.no_knowledge)
    best = hits[0]
    entry = ctx.models.kb.entry(best.entry_id)
    with_context = hits is reading.context_hits
    intent = reading.context_intent if with_context and reading.context_intent else reading.intent
    agrees = _agrees(ctx, entry, best.score, intent)
    ctx.record["answerability"] = {
        "entry": entry.id,
        "score": round(best.score, 4),
        "intent_agrees": agrees,
        "context": with_context,
    }
    if best.score < thresholds.sure_retrieval_score:
        # The out-of-scope score is learnt on English texts: other languages rely on retrieval.
        if intent.out_of_scope and not agrees and reading.language == "en":
            return ctx.handoff(Reason.out_of_scope)
        floor = thresholds.min_retrieval_score
        if reading.language != "en" and agrees and intent.confidence >= 0.9:
            floor -= 0.07  # the encoder reads English best: a Spanish match scores lower
        if best.score < floor:
            return ctx.handoff(Reason.no_knowledge)
        if not agrees:
            return ctx.handoff(Reason.low_confidence)
    kind = _handoff_kind(ctx, entry)
    if kind is not None:
        # An entry of an intent that always goes to a person is never sent as an answer.
        return ctx.handoff(_HANDOFF_REASONS[kind], draft=False)
    hits = [h for h in hits if _handoff_kind(ctx, ctx.models.kb.entry(h.entry_id)) is None]
    # The customer already gave what a relevant entry asks them to text (an order number, a
    # photo): a person takes it from here, whichever entry scored best.
    relevant = [entry] + [
        ctx.models.kb.entry(h.entry_id) for h in reading.hits[:3] if h.score >= floor_of(ctx)
    ]
    given = {s for e in relevant for s in e.handoff_when_given} & reading.specifics
    if given:
        ctx.record["answerability"]["already_given"] = sorted(given)
        # The picture the entry asks for came with the text: a person looks at it.
        sent_picture = ctx.request.has_media and "photo" in given
        return ctx.handoff(Reason.media_received if sent_picture else Reason.account_specific)
    if not _covers(ctx, entry, best):
        # A close runner-up may cover it ("how much?" after a shipping answer: the prices).
        runner = next(
            (
                h
                for h in hits[1:3]
                if h.score >= floor_of(ctx)
                and (best.score - h.score <= 0.05 or h.intent == best.intent)
            ),
            None,
        )
        if runner is None or not _covers(ctx, ctx.models.kb.entry(runner.entry_id), runner):
            return ctx.handoff(Reason.not_answerable)
        best, entry = runner, ctx.models.kb.entry(runner.entry_id)
        hits = [runner]
        ctx.record["answerability"]["entry"] = entry.id
    if not entry.speaks(reading.language):
        # A close runner-up that has the customer's language answers in it.
        speaking = next(
            (
                h
                for h in hits[1:3]
                if best.score - h.score <= 0.05
                and ctx.models.kb.entry(h.entry_id).speaks(reading.language)
            ),
            None,
        )
        if speaking is not None:
            best, entry, hits = speaking, ctx.models.kb.entry(speaking.entry_id), [speaking]
    previous = ctx.request.previous
    if reading.follow_up and previous is not None and entry.id in previous.entries:
        # A follow-up that lands on the answer just sent may mean its sibling ("can i put
        # the club on hold" -> "and can i turn it back on?": resume, not pause again).
        sibling = next(
            (
                h
                for h in hits[1:3]
                if h.score >= floor_of(ctx)
                and h.intent == best.intent
                and h.entry_id not in previous.entries
                and h.entry_id in {a.entry_id for a in reading.hits}  # the text's own reading
                and _focused(ctx, entry) is None
            ),
            None,
        )
        if sibling is not None:
            best, entry, hits = sibling, ctx.models.kb.entry(sibling.entry_id), [sibling]
    siblings = _siblings(ctx, hits, intent)
    if siblings:
        options = tuple(
            Option(number, _label(e), e.id) for number, e in enumerate(siblings, start=1)
        )
        return Clarify(options, ctx.wording.clarify(options, reading.language))
    entries = [entry, *_second_question(ctx, entry)]
    return _reply(ctx, entries)


def _handoff_kind(ctx: Context, entry: KnowledgeEntry) -> str | None:
    intent = ctx.models.kb.intents.get(entry.intent)
    return intent.handoff if intent is not None else None


def floor_of(ctx: Context) -> float:
    """The lowest retrieval score that may ground an answer."""
    return ctx.thresholds.min_retrieval_score


def _reply(ctx: Context, entries: list[KnowledgeEntry]) -> Decision:
    reading = ctx.reading
    if reading.language != "en" and not all(e.speaks(reading.language) for e in entries):
        return ctx.handoff(Reason.no_language, draft=entries[0].sms_reply())
    answers = [Answer(e.id, e.sms_reply(reading.language)) for e in entries]
    previous = ctx.request.previous
    if previous is not None and previous.kind == "reply" and entries[0].id in previous.entries:
        # Never the same answer twice in a row: a follow-up gets the part it asks about, a
        # repeated question means the answer did not help.
        focused = _focused(ctx, entries[0]) if reading.follow_up else None
        if focused is None or focused == previous.reply:
            return ctx.handoff(Reason.repeated_failure, draft=False)
        answers[0] = Answer(entries[0].id, focused)
    return Reply(tuple(answers), language=reading.language)


def _hits(ctx: Context) -> list[Hit]:
    reading = ctx.reading
    alone, joined = reading.hits, reading.context_hits
    if not joined:
        return alone
    floor = ctx.thresholds.min_retrieval_score
    previous = ctx.request.previous
    if (
        previous is not None
        and alone
        and alone[0].score >= floor - 0.05
        and alone[0].intent == reading.intent.intent
        and joined[0].entry_id in previous.entries
        and alone[0].entry_id not in previous.entries
    ):
        # A new question on the same topic ("ok how do i book one" after a bike-fit answer):
        # the text's own best entry, scored with the context when that reads it better.
        with_context = {h.entry_id: h.score for h in joined}
        best = alone[0]
        return [replace(best, score=max(best.score, with_context.get(best.entry_id, 0.0)))]
    if reading.follow_up or not alone or alone[0].score < floor:
        return joined if joined[0].score >= (alone[0].score if alone else 0.0) - 0.05 else alone
    return alone


def _agrees(
    ctx: Context, entry: KnowledgeEntry, score: float, intent: IntentPrediction | None = None
) -> bool:
    """The intent head and retrieval point at the same topic: the entry's intent is the
    confident first intent, or (with a fair retrieval score) a close second."""
    intent = intent or ctx.reading.intent
    if entry.intent == intent.intent and intent.confidence >= ctx.thresholds.min_confidence:
        return True
    second = dict(intent.top[:2]).get(entry.intent, 0.0)
    return second >= 0.2 and score >= 0.5


def _sure_answer(ctx: Context) -> bool:
    hits = ctx.reading.hits
    if not hits or hits[0].score < ctx.thresholds.sure_retrieval_score + 0.1:
        return False
    intent = ctx.models.kb.intents.get(hits[0].intent)
    return intent is not None and intent.handoff is None


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{3,}", text.casefold()) if w not in _STOPWORDS}


def _stem(word: str) -> str:
    return word[:-1] if word.endswith("s") and len(word) > 4 else word


def _covers(ctx: Context, entry: KnowledgeEntry, best: Hit) -> bool:
    """The entry speaks to the question's specifics: a price asked is a price the entry
    states, for the thing asked about."""
    reading = ctx.reading
    if reading.language == "en" and _PRICE.search(reading.plain):
        text = f"{entry.question} {' '.join(entry.phrasings)} {entry.answer} {entry.body}"
        if "$" not in entry.answer and "free" not in entry.answer.casefold():
            return False
        subjects = {_stem(w) for w in _words(reading.plain) - _PRICE_WORDS if len(w) >= 4}
        subjects -= {_stem(w) for w in ctx.models.generic_words}
        entry_words = {_stem(w) for w in _words(text)}
        missing = subjects - entry_words
        # Half or more of what the price is asked for is not in the entry: not its price.
        if subjects and len(missing) * 2 >= len(subjects):
            ctx.record.setdefault("answerability", {})["uncovered"] = sorted(missing)
            return False
    return True


def _siblings(ctx: Context, hits: list[Hit], intent: IntentPrediction) -> list[KnowledgeEntry]:
    """Entries of different topics, too close to tell apart, for a short general text the
    intent head cannot settle either ("how do i cancel?": an order, an appointment, the Club).
    When the intent head confidently names the best entry's topic, it simply answers."""
    best = hits[0]
    # A one- or two-word text ("refund?") can mean any close entry, even of one topic.
    bare = len(_words(ctx.reading.plain)) <= 2
    close = [
        h
        for h in hits[1:]
        if (h.intent != best.intent and best.score - h.score <= ctx.thresholds.sibling_margin)
        or (bare and best.score - h.score <= ctx.thresholds.sibling_margin / 2)
    ]
    settled = best.intent == intent.intent and intent.confidence >= 0.9 and not bare
    if not close or settled or ctx.reading.words > 8 or ctx.reading.follow_up:
        return []
    return [ctx.models.kb.entry(h.entry_id) for h in [best, *close]]


def _label(entry: KnowledgeEntry) -> str:
    return entry.question.rstrip("?")


def _second_question(ctx: Context, first: KnowledgeEntry) -> list[KnowledgeEntry]:
    """A text with two questions gets both answers ("hours? and do u ship to canada")."""
    kb = ctx.models.kb
    found: list[KnowledgeEntry] = []
    for _question, intent, hits in ctx.reading.parts:
        if not hits:
            continue
        entry = kb.entry(hits[0].entry_id)
        sure = hits[0].score >= ctx.thresholds.sure_retrieval_score
        agrees = entry.intent == intent.intent and hits[0].score >= 0.5
        handoff = kb.intents[entry.intent].handoff if entry.intent in kb.intents else None
        if (sure or agrees) and handoff is None and entry.id != first.id and entry not in found:
            found.append(entry)
    return found[:1]


def _focused(ctx: Context, entry: KnowledgeEntry) -> str | None:
    """The part of the entry's answer a follow-up asks about ("and on sunday?" -> the
    Sunday hours): the sentence, or within one sentence the clause, sharing its words."""
    words = _words(ctx.reading.plain) - _STOPWORDS
    if not words:
        return None
    answer = entry.sms_reply(ctx.reading.language)
    sentences = [s.strip() for s in re.split(r"(?<=[.!])\s+", answer) if s.strip()]
    parts = sentences if len(sentences) > 1 else re.split(r",\s+|;\s+|\s+and\s+", answer)
    # Read the answer's own shorthand ("Sun 10am-6pm") the way the customer's was read.
    plain = ctx.models.normaliser

    def overlap(part: str) -> int:
        return len(words & _words(plain(part, correct=False)))

    best = max(parts, key=overlap).strip()
    if overlap(best) == 0 or best == answer:
        return None
    return f"{best[0].upper()}{best[1:]}"


def _relevant_draft(ctx: Context) -> str | None:
    """The best entry's answer, for the agent to start from, when it is on the question's
    topic (retrieval above the floor, the intent head agreeing)."""
    hits = ctx.reading.context_hits or ctx.reading.hits
    if not hits or hits[0].score < ctx.thresholds.min_retrieval_score:
        return None
    entry = ctx.models.kb.entry(hits[0].entry_id)
    intent = ctx.models.kb.intents.get(entry.intent)
    if intent is not None and intent.handoff is not None:
        return None
    agrees = _agrees(ctx, entry, hits[0].score)
    return entry.sms_reply(ctx.reading.language) if agrees else None
