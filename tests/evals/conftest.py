"""Eval fixtures: a quiet eval context on the session's trained models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.ai.models import AiModels
from app.config import Settings
from app.evals.runner import EvalContext
from tests.conftest import REPO


@pytest.fixture
def eval_ctx(ai_models: AiModels, tmp_path: Path) -> Iterator[EvalContext]:
    """Runs suites the way `smsdesk eval` does, on models trained once per test session."""
    settings = Settings(env="test", data_dir=tmp_path / "data", knowledge_dir=REPO / "knowledge")
    ctx = EvalContext.with_models(settings, ai_models)
    yield ctx
    ctx.close()


def write_lines(path: Path, *lines: str) -> Path:
    """A text file of these lines."""
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
