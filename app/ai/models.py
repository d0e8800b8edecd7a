"""Everything the AI layer loads once per process: encoder, heads, knowledge and its index."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from app import log
from app.ai.encoder import Encoder, Vectors, get_encoder
from app.ai.index import KnowledgeIndex, SyncReport
from app.ai.intents import IntentModel
from app.ai.knowledge import KnowledgeBase, load_knowledge
from app.ai.knowledge_version import fingerprint
from app.ai.revocations import RevocationExamples
from app.ai.safety import SafetyDetector
from app.ai.sentiment import SentimentModel
from app.ai.textnorm import Normaliser, common_words
from app.ai.training import load_or_train_intents, training_data
from app.config import Settings

_logger = log.get_logger("ai")


@dataclass
class AiModels:
    """The loaded models and knowledge of one process."""

    encoder: Encoder
    intents: IntentModel
    sentiment: SentimentModel
    kb: KnowledgeBase
    index: KnowledgeIndex
    revocations: RevocationExamples
    safety: SafetyDetector
    normaliser: Normaliser
    """Texting language to plain words, towards the knowledge base's own vocabulary."""
    examples: list[tuple[str, str]] = field(default_factory=list)
    """Labelled training texts: few-shot examples for the LLM prompt."""
    example_vectors: Vectors | None = None
    version: str = ""
    """The knowledge folder's fingerprint when it was loaded (`app.ai.knowledge_version`)."""

    @classmethod
    def load(cls, settings: Settings) -> AiModels:
        """Load (training the intent model and syncing the index when needed)."""
        started = time.perf_counter()
        # The knowledge first: a broken folder fails in milliseconds, not after the encoder.
        version = fingerprint(settings.knowledge_dir)
        kb = load_knowledge(settings.knowledge_dir)
        encoder = get_encoder(settings.encoder_threads)
        index = KnowledgeIndex(settings)
        report = index.sync(kb)
        index.warm()  # its in-memory copy is this knowledge's, whatever a reload writes later
        models = cls(
            encoder=encoder,
            intents=load_or_train_intents(settings, kb),
            sentiment=SentimentModel.load_default(),
            kb=kb,
            index=index,
            revocations=RevocationExamples.load(encoder),
            safety=SafetyDetector(encoder, ordinary=ordinary_texts(kb)),
            normaliser=Normaliser.from_texts(business_texts(kb)),
            version=version,
        )
        if settings.llm_base_url:
            models.examples = training_data(kb).examples
            models.example_vectors = encoder.encode([text for text, _ in models.examples])
        _logger.info(
            "ai.loaded",
            entries=len(kb.entries),
            intents=len(kb.intents),
            index_changed=report.changed,
            seconds=round(time.perf_counter() - started, 1),
        )
        return models

    def with_knowledge(
        self, settings: Settings, kb: KnowledgeBase, version: str
    ) -> tuple[AiModels, SyncReport]:
        """These models on another version of the knowledge, rebuilding only what it changes
        (a hot reload; `app.ai.knowledge_version` explains the design). `self` is untouched:
        texts in flight finish on it."""
        index = self.index.successor()
        # This process's loaded encoder: `get_encoder`'s cache may hold another instance.
        report = index.apply(self.kb, kb, encoder=self.encoder)
        index.warm()
        # The intent classifier keeps what it learnt: retraining it takes up to a minute
        # (`AiResponder` does it in the background when `retrain_needed`), and every entry's
        # intent is one it already knows. The danger head keeps its ordinary texts too:
        # new phrasings only make it slightly less sure they are calm.
        models = replace(
            self,
            kb=kb,
            index=index,
            normaliser=Normaliser.from_texts(business_texts(kb)),
            version=version,
        )
        return models, report

    def retrain_needed(self) -> bool:
        """Whether the intent classifier was trained on other texts than this knowledge's."""
        digest = training_data(self.kb).digest
        return bool(self.intents.hyperparameters.get("training_data_sha256") != digest)

    def with_intents(self, settings: Settings) -> AiModels:
        """These models with the intent classifier trained on their knowledge (in memory:
        concurrent processes would race on one saved file, and a restart retrains from the
        folder anyway); the LLM's few-shot examples follow it."""
        data = training_data(self.kb)
        intents = IntentModel.train(data.examples, oos_examples=data.out_of_scope)
        intents.hyperparameters["training_data_sha256"] = data.digest
        models = replace(self, intents=intents)
        if settings.llm_base_url:
            models.examples = data.examples
            models.example_vectors = self.encoder.encode([text for text, _ in data.examples])
        return models

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        """Every word the knowledge base uses, plus everyday words."""
        return frozenset(self.normaliser.vocabulary) | common_words()

    @property
    def generic_words(self) -> frozenset[str]:
        """Words that name no product or service (today, store, order, ...)."""
        return common_words()

    @property
    def versions(self) -> dict[str, str]:
        """Which models decided (stored with every decision)."""
        return {
            "encoder": "all-MiniLM-L6-v2",
            "intents": self.intents.created_at,
            "sentiment": self.sentiment.version,
        }

    @property
    def intent_catalogue(self) -> str:
        """The intents as the LLM prompt lists them."""
        return "\n".join(
            f"- {name}: {intent.description} (e.g. {'; '.join(intent.examples[:3])})"
            for name, intent in self.kb.intents.items()
        )

    def examples_like(self, vector: Vectors, k: int = 8) -> list[tuple[str, str]]:
        """The `k` labelled texts closest to an embedded text (few-shot examples)."""
        if self.example_vectors is None or not self.examples:
            return []
        best = np.argsort(-(self.example_vectors @ vector))[:k]
        return [self.examples[i] for i in best]


def business_texts(kb: KnowledgeBase) -> list[str]:
    """The texts the business wrote in its own words (questions, answers, bodies, intent
    descriptions): the spelling corrector's targets. Phrasings and examples are left out on
    purpose: they are written the way customers misspell."""
    texts = [t for e in kb.entries for t in (e.question, e.answer, e.answer_es or "", e.body)]
    return texts + [intent.description for intent in kb.intents.values()]


def ordinary_texts(kb: KnowledgeBase) -> list[str]:
    """The knowledge base's questions, phrasings and examples: what customers ask every day
    (the danger head learns that these are not danger)."""
    texts = [t for e in kb.entries for t in e.texts()]
    return texts + [x for intent in kb.intents.values() for x in intent.examples]
