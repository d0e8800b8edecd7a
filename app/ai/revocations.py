"""The local AI second pass of SPEC §7: similarity to texts that revoke consent.

The deterministic layer is the floor; this catches revocations in other words or languages
("I'm done with you people", "bórrenme de su lista"). The LLM mode asks the model instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import yaml

from app.ai.encoder import Encoder, Vectors
from app.errors import ConfigurationError


@dataclass(frozen=True)
class RevocationExamples:
    """Embedded revocation examples and the two similarity thresholds."""

    vectors: Vectors
    clear: float
    """At or above: the text revokes consent (recorded through the opt-out tool)."""
    borderline: float
    """At or above (and below `clear`): a person decides."""

    @classmethod
    def load(cls, encoder: Encoder) -> RevocationExamples:
        """The shipped examples (`app/ai/data/revocations.yaml`), embedded."""
        raw: Any = yaml.safe_load(
            resources.files("app.ai").joinpath("data/revocations.yaml").read_text("utf-8")
        )
        try:
            examples = [str(text) for text in raw["examples"]]
            clear, borderline = float(raw["clear"]), float(raw["borderline"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"app/ai/data/revocations.yaml is malformed: {exc}") from exc
        if not examples or not 0 < borderline <= clear <= 1:
            raise ConfigurationError(
                "app/ai/data/revocations.yaml: need examples, 0 < borderline <= clear <= 1"
            )
        return cls(encoder.encode(examples), clear=clear, borderline=borderline)

    def similarity(self, vector: Vectors) -> float:
        """The highest cosine similarity of an embedded text to any example."""
        return float(np.max(self.vectors @ vector))
