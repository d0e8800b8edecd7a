"""Understanding one text in its conversation: everything the decision steps read, computed
once (one encoder call, batched with the previous question when the text leans on it).

    raw text -> plain words (shorthand, spelling) -> language, safety, tone, person, legal,
    fraud, specifics -> embedding -> intent, sentiment, retrieval (alone and with context)
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

from app.ai import escalation, language, specifics
from app.ai.encoder import Vectors
from app.ai.index import Hit
from app.ai.intents import IntentPrediction
from app.ai.knowledge import Specific
from app.ai.models import AiModels
from app.ai.safety import SafetyReading
from app.ai.sentiment import Sentiment
from app.ai.textnorm import gloss_spanish
from app.pipeline.responder import ResponderRequest

# A text that leans on the previous one: "and on sunday?", "what about returns in store?",
# "how long does it take?", "y el domingo?".
_FOLLOW_UP = re.compile(
    r"^(?:and|also|what about|how about|whats about|what if|but|ok and|ok what about|so|"
    r"same for|y|y el|y la|y los|y si|tambien)\b"
    r"|^(?:how (?:long|much)|when|what time|where|is it|does it|do they|can i|will it)\b"
    r".{0,25}\b(?:it|that|this|them|those|one)\b"
    r"|^(?:how long|how much|what time|when|where)\??$"
)
_WORDS = re.compile(r"[^\W\d_]+")


@dataclass
class Reading:
    """What the AI layer read from one text (and, for follow-ups, with the previous one)."""

    text: str
    plain: str
    language: str
    vector: Vectors
    intent: IntentPrediction
    sentiment: Sentiment
    hits: list[Hit]
    """Retrieval for the text alone."""
    context_hits: list[Hit] = field(default_factory=list)
    """Retrieval for the previous question and this text together (follow-ups only)."""
    context_intent: IntentPrediction | None = None
    parts: list[tuple[str, IntentPrediction, list[Hit]]] = field(default_factory=list)
    """A text with two questions: each question with its intent and retrieval."""
    safety: SafetyReading | None = None
    tone: escalation.Tone | None = None
    asks_for_person: bool = False
    legal: bool = False
    fraud: bool = False
    account: bool = False
    specifics: set[Specific] = field(default_factory=set)
    follow_up: bool = False
    revocation: float = 0.0
    words: int = 0

    def record(self) -> dict[str, Any]:
        """What the console and the evals show of this reading."""
        return {
            "plain": self.plain,
            "language": self.language,
            "intent": self.intent.intent,
            "confidence": round(self.intent.confidence, 4),
            "out_of_scope": self.intent.out_of_scope,
            "top_intents": [[name, round(p, 3)] for name, p in self.intent.top],
            "sentiment": {
                "label": self.sentiment.label,
                "negative": round(self.sentiment.negative, 4),
            },
            "safety": None
            if self.safety is None or not self.safety.danger
            else {"kind": self.safety.kind, "matched": self.safety.matched},
            "safety_similarity": round(self.safety.similarity, 4) if self.safety else None,
            "signals": {
                "asked_for_person": self.asks_for_person,
                "legal": self.legal,
                "fraud": self.fraud,
                "account": self.account,
                "anger_cues": self.tone.anger_cues if self.tone else 0,
                "grievances": self.tone.grievances if self.tone else 0,
                "specifics": sorted(self.specifics),
                "follow_up": self.follow_up,
            },
            "revocation_similarity": round(self.revocation, 4),
        }


_QUESTION_BREAK = re.compile(
    r"\?+|\s\+\s|\band also\b|\balso\b|\bplus\b"
    r"|\band (?=(?:do|does|is|are|can|what|when|where|how)\b)"
)


def split_questions(plain: str) -> list[str]:
    """The separate questions of a text, when it has two or more ("hours? and do u ship to
    canada?"); empty for a single question."""
    parts = [p.strip(" ,.!") for p in _QUESTION_BREAK.split(plain)]
    parts = [p for p in parts if len(_WORDS.findall(p)) >= 2]
    return parts if len(parts) >= 2 else []


_OPENER = re.compile(r"^(?:ok|okay|k|cool|great|thanks|thank you|perfect|got it|alright)\W+")
_REFERENCE = re.compile(r"\b(?:it|that|this|them|those|one|there|then)\b")


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def key_question(plain: str) -> str | None:
    """In a long text, the sentence that asks (the last one with a question mark, else the
    last sentence); None for a short text."""
    if len(_WORDS.findall(plain)) <= 20:
        return None
    sentences = [s.strip() for s in _SENTENCE.split(plain) if len(_WORDS.findall(s)) >= 3]
    if len(sentences) < 2:
        return None
    asking = [s for s in sentences if "?" in s]
    return (asking or sentences)[-1]


def is_follow_up(plain: str) -> bool:
    """Whether a text leans on the previous turn ("and on sunday?", "ok how do i book one")."""
    text = _OPENER.sub("", plain.strip())
    if _FOLLOW_UP.search(text):
        return True
    return len(_WORDS.findall(text)) <= 7 and bool(_REFERENCE.search(text))


def _contexts_of(models: AiModels, request: ResponderRequest, lang: str) -> list[str]:
    """What a follow-up may lean on: the customer's previous text and, when the bot answered
    it, the question of the entry it answered from (short and on topic)."""
    previous = request.previous
    assert previous is not None
    text = previous.question
    found = [models.normaliser(text) if lang == "en" else gloss_spanish(text)]
    if previous.kind == "reply" and previous.entries:
        with contextlib.suppress(KeyError):  # the knowledge changed since
            found.append(models.kb.entry(previous.entries[0]).question)
    return found


def texts_of(models: AiModels, body: str) -> list[str]:
    """What `read` encodes for `body` in any conversation (the texts joined with the previous
    question are left out: they need the conversation), to encode a batch of texts ahead."""
    lang = language.detect(body)
    plain = models.normaliser(body) if lang == "en" else gloss_spanish(body)
    key = key_question(plain)
    raw = [body] if lang != "en" else []
    return [plain, *split_questions(plain), *([key] if key else []), *raw]


def read(models: AiModels, request: ResponderRequest) -> Reading:
    """Read one text; the previous customer question joins only when the text leans on it."""
    lang = language.detect(request.body)
    # The encoder reads English: a Spanish text is read through its English words.
    plain = models.normaliser(request.body) if lang == "en" else gloss_spanish(request.body)
    previous = request.previous.question if request.previous is not None else None
    # After our clarifying question, the answer leans on the question ("the appt for my fit").
    clarifying = request.previous is not None and request.previous.kind == "clarify"
    follow_up = previous is not None and (clarifying or is_follow_up(plain))
    short = len(_WORDS.findall(plain)) <= 4
    with_context = previous is not None and (follow_up or short)
    texts = [plain]
    if with_context and previous is not None:
        texts += [f"{before} {plain}" for before in _contexts_of(models, request, lang)]
    questions = split_questions(plain)
    key = key_question(plain)
    given = specifics.specifics(request.body, has_media=request.has_media)
    # One encoder call for everything: the text, its context, its separate questions, and a
    # long text's question sentence.
    # The revocation examples are written in several languages: a Spanish text is compared
    # as written, not through its English gloss.
    raw = [request.body] if lang != "en" else []
    vectors = models.encoder.encode([*texts, *questions, *([key] if key else []), *raw])
    revocation_vector = vectors[-1] if raw else vectors[0]
    if raw:
        vectors = vectors[:-1]
    vector = vectors[0]
    intents = models.intents.predict(vectors)
    intent = intents[0]
    hits = models.index.search(vector, k=3, text=plain)
    if key:
        # A long story with a question in it: the question alone may match better.
        key_hits = models.index.search(vectors[-1], k=3, text=key)
        if key_hits and (not hits or key_hits[0].score > hits[0].score):
            hits, intent = (
                key_hits,
                intents[-1] if intents[-1].confidence > intent.confidence else intent,
            )
    # With the context that reads best (the previous text, or the entry's question).
    context_hits: list[Hit] = []
    context_intent = None
    for index in range(1, len(texts)):
        found = models.index.search(vectors[index], k=3, text=texts[index])
        if found and (not context_hits or found[0].score > context_hits[0].score):
            context_hits, context_intent = found, intents[index]
    offset = len(texts)
    parts = [
        (q, intents[offset + i], models.index.search(vectors[offset + i], k=2, text=q))
        for i, q in enumerate(questions)
    ]
    return Reading(
        text=request.body,
        plain=plain,
        language=lang,
        vector=vector,
        intent=intent,
        sentiment=models.sentiment.score(request.body, vector),
        hits=hits,
        context_hits=context_hits,
        context_intent=context_intent,
        parts=parts,
        safety=models.safety.read(request.body, vector, plain=plain, english=lang == "en"),
        tone=escalation.tone(request.body),
        # The readers see both forms: the plain words, and (for Spanish) the original.
        asks_for_person=any(escalation.asks_for_person(t) for t in (plain, request.body)),
        legal=any(escalation.legal_matter(t) for t in (plain, request.body)),
        fraud=any(escalation.fraud_worry(t) for t in (plain, request.body)),
        specifics=given,
        account=escalation.account_specific(plain, given),
        follow_up=follow_up,
        revocation=models.revocations.similarity(revocation_vector),
        words=len(_WORDS.findall(plain)),
    )
