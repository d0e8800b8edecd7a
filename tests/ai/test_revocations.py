"""The local second pass's thresholds against the shipped knowledge base."""

from __future__ import annotations

from app.ai.models import AiModels
from app.ai.training import training_data


def test_no_question_of_the_knowledge_base_looks_like_a_revocation(ai_models: AiModels) -> None:
    data = training_data(ai_models.kb)
    texts = [text for text, _ in data.examples] + data.out_of_scope
    vectors = ai_models.encoder.encode(texts)
    closest = max(ai_models.revocations.similarity(v) for v in vectors)
    assert closest < ai_models.revocations.borderline


def test_revocations_in_other_words_reach_a_threshold(ai_models: AiModels) -> None:
    for text in ["bórrenme de su lista", "por favor sáquenme de su lista", "ne m'écrivez plus"]:
        vector = ai_models.encoder.encode_one(text)
        assert ai_models.revocations.similarity(vector) >= ai_models.revocations.borderline, text
