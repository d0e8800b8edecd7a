"""The shared encoder: offline, normalised, and batching concurrent requests correctly."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from app.ai.encoder import DIMENSIONS, get_encoder

TEXTS = [f"question number {i} about my order" for i in range(24)]


def test_vectors_are_unit_length_and_empty_input_is_empty() -> None:
    encoder = get_encoder()
    vectors = encoder.encode(TEXTS[:3])
    assert vectors.shape == (3, DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, DIMENSIONS)


def test_concurrent_requests_get_their_own_vectors() -> None:
    encoder = get_encoder()
    expected = np.stack([encoder.encode_one(text) for text in TEXTS])
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = np.stack(list(pool.map(encoder.encode_one, TEXTS)))
    # Batched with strangers or alone, each text gets the vector of its own text.
    assert np.allclose(got, expected, atol=1e-4)
    pairs = [TEXTS[i : i + 2] for i in range(0, len(TEXTS), 2)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        got_pairs = list(pool.map(encoder.encode, pairs))
    assert np.allclose(np.concatenate(got_pairs), expected, atol=1e-4)


def test_a_primed_batch_gives_each_text_its_own_vector_in_one_model_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encoder = get_encoder()
    expected = np.stack([encoder.encode_one(text) for text in TEXTS[:6]])
    calls: list[int] = []
    forward = encoder._forward

    def counted(texts: list[str], batch_size: int) -> np.ndarray:  # type: ignore[type-arg]
        calls.append(len(texts))
        return forward(texts, batch_size)

    monkeypatch.setattr(encoder, "_forward", counted)
    with encoder.primed([*TEXTS[:4], TEXTS[0]]):  # a text twice is encoded once
        assert calls == [4]
        got = np.stack([encoder.encode_one(text) for text in TEXTS[:4]])
        assert calls == [4]  # every vector came from the batch
        with ThreadPoolExecutor(max_workers=1) as pool:  # another thread never sees them
            pool.submit(encoder.encode_one, TEXTS[0]).result()
        assert calls == [4, 1]
        mixed = encoder.encode([TEXTS[4], TEXTS[1], TEXTS[5]])  # only the new ones run
        assert calls == [4, 1, 2]
    assert np.allclose(got, expected[:4], atol=1e-4)
    assert np.allclose(mixed, expected[[4, 1, 5]], atol=1e-4)
    encoder.encode_one(TEXTS[0])  # the context closed: encoded again
    assert calls == [4, 1, 2, 1]


def test_one_model_per_process_however_the_thread_count_is_named() -> None:
    # The settings' callers pass their thread count, others take the default: one cache key
    # each with one slot reloaded the model whenever the kind of call alternated.
    assert get_encoder() is get_encoder(1) is get_encoder(threads=1)
