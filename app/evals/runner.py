"""Running suites: one context per `smsdesk eval` command, so models load once however many
suites run, and every suite ends as an `EvalReport`.

The suites that run the product (decisions, conversations, latency, the catalogue, tone) use
the AI models trained and indexed from the chosen knowledge folder in a throw-away folder; the
public data-set suites (intents, sentiment, retrieval) train their own heads.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from app.config import Settings
from app.evals.progress import Advance, progress_bar
from app.evals.report import EvalReport

if TYPE_CHECKING:
    from app.ai.models import AiModels
    from app.evals.sandbox import Sandbox
    from app.flows.matching import TextEncoder


@dataclass
class EvalContext:
    """What the suites of one command share: settings, the knowledge folder, the models."""

    settings: Settings
    knowledge_dir: Path | None = None
    console: Console | None = None
    _models: AiModels | None = None
    _folder: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def with_models(cls, settings: Settings, models: AiModels) -> EvalContext:
        """A quiet context on models already loaded (tests load them once per session)."""
        return cls(settings, _models=models)

    @property
    def knowledge(self) -> Path:
        """The knowledge folder under evaluation."""
        return self.knowledge_dir or self.settings.knowledge_dir

    def models(self) -> AiModels:
        """The AI models for the knowledge folder (trained and indexed once per command)."""
        if self._models is None:
            from app.evals.sandbox import load_models

            self._folder = Path(tempfile.mkdtemp(prefix="smsdesk-eval-models-"))
            self._status("Loading the models, training intents, indexing the knowledge")
            started = time.perf_counter()
            self._models = load_models(
                self.settings, knowledge_dir=self.knowledge_dir, folder=self._folder
            )
            self.timings["load_models"] = round(time.perf_counter() - started, 1)
        return self._models

    def encoder(self) -> TextEncoder:
        """The sentence encoder alone: the loaded models' one, else the process-wide encoder
        the runtime gives the flows (no intent training needed)."""
        if self._models is not None:
            return self._models.encoder
        from app.ai.encoder import get_encoder

        return get_encoder(self.settings.encoder_threads)

    @contextmanager
    def sandbox(self) -> Iterator[Sandbox]:
        """A fresh throw-away deployment on the shared models, at the decisions' start time."""
        from app.evals.decisions import start_instant
        from app.evals.sandbox import open_sandbox

        models = self.models()
        with open_sandbox(
            self.settings,
            knowledge_dir=self.knowledge_dir,
            at=start_instant(self.settings),
            models=models,
        ) as sandbox:
            yield sandbox

    def bar(self, label: str, total: int) -> AbstractContextManager[Advance]:
        """A progress bar on the console (nothing when quiet)."""
        return progress_bar(self.console, label, total)

    def _status(self, message: str) -> None:
        if self.console is not None:
            self.console.print(f"[dim]{message}...[/dim]")

    def close(self) -> None:
        """Remove the models' throw-away folder."""
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)


def run_decisions(ctx: EvalContext, source: str | Path, *, limit: int | None) -> EvalReport:
    """Labelled first texts through the real pipeline."""
    from app.evals.decisions import evaluate_decisions, load_dataset

    items, path = load_dataset(source)
    items = items[:limit] if limit else items
    name = source if isinstance(source, str) and not Path(source).suffix else path.stem
    with ctx.sandbox() as sandbox, ctx.bar(f"decisions · {name}", len(items)) as advance:
        return evaluate_decisions(sandbox, items, dataset=str(name), path=path, advance=advance)


def run_conversations(ctx: EvalContext, path: Path) -> EvalReport:
    """Multi-turn scenarios through the real pipeline."""
    from app.evals.conversations import evaluate_conversations
    from app.evals.decisions import start_instant
    from app.evals.scenarios import load_scenarios

    scenarios = load_scenarios(path)
    with ctx.sandbox() as sandbox, ctx.bar("conversations", len(scenarios)) as advance:
        return evaluate_conversations(
            sandbox, scenarios, path=path, start=start_instant(ctx.settings), advance=advance
        )


def run_compliance(ctx: EvalContext, path: Path) -> EvalReport:
    """A compliance case file through the real code path."""
    from app.evals.compliance_cases import count_cases, evaluate_compliance

    with ctx.bar("compliance", count_cases(path)) as advance:
        return evaluate_compliance(path, ctx.settings, advance=advance)


def run_catalogue(ctx: EvalContext) -> EvalReport:
    """Cross-validated scores of the team's own intents and entries."""
    from app.ai.knowledge import load_knowledge
    from app.evals.catalogue import FOLDS, evaluate_catalogue

    models = ctx.models()
    kb = load_knowledge(ctx.knowledge)
    with ctx.bar("intents · kb (cross-validation)", FOLDS) as advance:
        return evaluate_catalogue(kb, models.encoder, advance=advance)


def run_tone(ctx: EvalContext, source: str | Path) -> EvalReport:
    """The negative-sentiment flag against the decisions file's tone labels."""
    from app.evals.decisions import load_dataset
    from app.evals.tone import evaluate_tone

    items, path = load_dataset(source)
    return evaluate_tone(
        ctx.models(), items, threshold=ctx.settings.negative_sentiment_threshold, path=path
    )


def run_latency(ctx: EvalContext, source: str | Path, *, repeats: int) -> EvalReport:
    """The AI layer's time per text beside the embedding alone."""
    from app.compliance import classify
    from app.evals.decisions import load_dataset
    from app.evals.latency import evaluate_latency

    items, path = load_dataset(source)
    passed = sum(classify(item.text).action == "pass" for item in items)
    models = ctx.models()
    with ctx.bar("latency", passed * repeats) as advance:
        return evaluate_latency(
            ctx.settings, models, items, dataset=path.stem, repeats=repeats, advance=advance
        )


def run_flow_replies(ctx: EvalContext, split: str) -> EvalReport:
    """The shipped flows reading a labelled split of customers' replies (dev or test)."""
    from app.evals.flow_replies import SHIPPED_FLOWS, SPLITS, evaluate_flow_replies, load_replies
    from app.flows.loader import load_flows
    from app.flows.matching import MeaningMatcher

    path = SPLITS[split]
    replies = load_replies(path)
    matcher = MeaningMatcher(
        ctx.encoder(),
        min_score=ctx.settings.flow_match_min_score,
        margin=ctx.settings.flow_match_margin,
    )
    with ctx.bar(f"flow replies · {split}", len(replies.cases)) as advance:
        return evaluate_flow_replies(
            replies,
            split=split,
            path=path,
            catalogue=load_flows(SHIPPED_FLOWS),
            matcher=matcher,
            advance=advance,
        )


def timed(work: Callable[[], EvalReport]) -> EvalReport:
    """Run a suite that does not time itself, and record how long it took."""
    started = time.perf_counter()
    report = work()
    if not report.seconds:
        report.seconds = round(time.perf_counter() - started, 1)
    return report
