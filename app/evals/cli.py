"""`smsdesk eval ...`: score the AI layer on public data sets and print/write a report."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from app.cli_output import fail
from app.errors import SmsdeskError
from app.evals.report import EvalReport

eval_app = typer.Typer(
    help="Score intents, sentiment and retrieval on public data sets (reports as JSON and tables).",
    no_args_is_help=True,
)
_console = Console(soft_wrap=True, highlight=False)

JsonOption = Annotated[
    Path | None, typer.Option("--json", help="Also write the report to this JSON file.")
]


class IntentDataset(StrEnum):
    clinc150 = "clinc150"
    banking77 = "banking77"
    hwu64 = "hwu64"


class SentimentDataset(StrEnum):
    tweeteval = "tweeteval"


class RetrievalDataset(StrEnum):
    bitext = "bitext"


def _run(evaluate: Callable[[], EvalReport], json_path: Path | None) -> None:
    try:
        report = evaluate()
    except SmsdeskError as exc:
        fail(exc)
    _finish(report, json_path)


def _finish(report: EvalReport, json_path: Path | None) -> None:
    report.show(_console, references=report.details.get("references"))
    if json_path is not None:
        report.write(json_path)
        _console.print(f"report written to {json_path}")


@eval_app.command("intents")
def intents_command(
    dataset: Annotated[IntentDataset, typer.Option(help="Which public data set.")],
    json_path: JsonOption = None,
    limit: Annotated[
        int | None, typer.Option(help="Use at most this many texts per split (quick runs).")
    ] = None,
    finetune: Annotated[
        bool,
        typer.Option(
            help="Also fine-tune the encoder's top layers and report both (minutes on a CPU; "
            "the product serves the frozen encoder)."
        ),
    ] = False,
) -> None:
    """Train on the train split, tune on validation, report on test (intents, out-of-scope)."""
    from app.evals.intents import evaluate_intents

    _run(lambda: evaluate_intents(dataset.value, limit=limit, finetune=finetune), json_path)


@eval_app.command("sentiment")
def sentiment_command(
    dataset: Annotated[SentimentDataset, typer.Option(help="Which public data set.")],
    path: Annotated[
        Path, typer.Option(help="The test file (JSONL with text and label); not committed.")
    ],
    json_path: JsonOption = None,
    limit: Annotated[int | None, typer.Option(help="Use at most this many test texts.")] = None,
) -> None:
    """Score the negative-sentiment signal (macro recall, negative F1)."""
    from app.evals.sentiment import evaluate_sentiment

    _run(lambda: evaluate_sentiment(dataset.value, path, limit=limit), json_path)


@eval_app.command("retrieval")
def retrieval_command(
    dataset: Annotated[RetrievalDataset, typer.Option(help="Which public data set.")],
    json_path: JsonOption = None,
    limit: Annotated[int | None, typer.Option(help="Use at most this many queries.")] = None,
) -> None:
    """Score knowledge retrieval (Recall@1, Recall@5, MRR)."""
    from app.evals.retrieval import evaluate_retrieval

    _run(lambda: evaluate_retrieval(dataset.value, limit=limit), json_path)
