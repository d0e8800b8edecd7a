"""`smsdesk eval SUITE`: score smsdesk, write a report directory, and gate on a baseline.

Every suite prints a table, writes `results.json` and `report.html` under `--out` (default
`evals/reports/<suite>-<timestamp>/`), and with `--baseline` exits 1 when a metric regressed
beyond its tolerance. Expected errors (a missing file, a malformed scenario) print one line
and exit 2.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from app import log
from app.cli_output import fail
from app.config import get_settings
from app.errors import SmsdeskError
from app.evals.report import EvalReport, EvalRun, default_out_dir
from app.evals.runner import EvalContext, timed

eval_app = typer.Typer(
    help="Score decisions, conversations, compliance, intents, sentiment, retrieval and latency; "
    "write reports (JSON + HTML) and gate on a baseline.",
    no_args_is_help=True,
)
_console = Console(soft_wrap=True, highlight=False, stderr=False)
EVALS = Path(__file__).resolve().parents[2] / "evals"
BASELINE = EVALS / "baseline.json"

Knowledge = Annotated[
    Path | None,
    typer.Option(
        "--knowledge", help="Evaluate this knowledge folder instead of SMSDESK_KNOWLEDGE_DIR."
    ),
]
Out = Annotated[
    Path | None,
    typer.Option("--out", help="Report directory (default evals/reports/<suite>-<timestamp>/)."),
]
Baseline = Annotated[
    Path | None,
    typer.Option(
        "--baseline",
        help="Compare with this baseline or results.json; exit 1 on a regression beyond tolerance.",
    ),
]
Tolerance = Annotated[
    list[str] | None,
    typer.Option(
        "--tolerance", help="Override a tolerance: METRIC=N or SUITE:DATASET.METRIC=N (repeatable)."
    ),
]
SaveBaseline = Annotated[
    Path | None,
    typer.Option(
        "--save-baseline",
        help="Write this run's metrics as the baseline file (suites not run keep their figures).",
    ),
]
JsonOut = Annotated[
    Path | None, typer.Option("--json", help="Also write the suite's report alone as JSON.")
]
Limit = Annotated[int | None, typer.Option(help="Use at most this many items (quick runs).")]


class DecisionsDataset(StrEnum):
    acme = "acme"
    acme_holdout = "acme-holdout"
    bitext_handoff = "bitext-handoff"


class IntentDataset(StrEnum):
    clinc150 = "clinc150"
    banking77 = "banking77"
    hwu64 = "hwu64"
    kb = "kb"


class SentimentDataset(StrEnum):
    decisions = "decisions"
    tweeteval = "tweeteval"


class RetrievalDataset(StrEnum):
    bitext = "bitext"


class ReplySplit(StrEnum):
    dev = "dev"
    test = "test"
    both = "both"


def _context(knowledge: Path | None) -> EvalContext:
    # Evals print tables, not logs: only warnings and errors reach the terminal (all of them
    # with `smsdesk --verbose`, which sets the level to DEBUG).
    log.configure("DEBUG" if get_settings().log_level == "DEBUG" else "WARNING")
    if knowledge is not None and not knowledge.is_dir():
        fail(f"--knowledge {knowledge}: not a folder")
    return EvalContext(get_settings(), knowledge, _console)


def _run(
    suite: str,
    work: Callable[[EvalContext], list[EvalReport]],
    *,
    knowledge: Path | None,
    out: Path | None,
    baseline: Path | None,
    tolerance: list[str] | None,
    save_baseline: Path | None,
    json_out: Path | None = None,
) -> None:
    from app.evals.gate import load_baseline, parse_tolerances

    ctx = _context(knowledge)
    try:
        # A bad baseline or tolerance is found before minutes of work, not after.
        gate = (load_baseline(baseline), str(baseline)) if baseline is not None else None
        tolerances = parse_tolerances(tolerance or [])
        reports = work(ctx)
        _finish(suite, reports, ctx, out, gate, tolerances, save_baseline, json_out)
    except SmsdeskError as exc:
        fail(exc)
    finally:
        ctx.close()


def _finish(
    suite: str,
    reports: list[EvalReport],
    ctx: EvalContext,
    out: Path | None,
    gate: tuple[dict[str, dict[str, float]], str] | None,
    tolerances: dict[str, float],
    save_baseline: Path | None,
    json_out: Path | None,
) -> None:
    from app.evals.gate import compare, write_baseline

    for report in reports:
        report.show(_console, references=report.details.get("references"))
    command = "smsdesk " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    run = EvalRun.of(command, reports, ctx.settings)
    passed = True
    if gate is not None:
        result = compare(reports, gate[0], source=gate[1], tolerances=tolerances)
        run.gate = result.to_json()
        passed = result.passed
        _show_gate(result.to_json())
    folder = out or default_out_dir(suite)
    page = run.write(folder)
    if json_out is not None and len(reports) == 1:
        reports[0].write(json_out)
    if save_baseline is not None:
        write_baseline(reports, save_baseline, keep=save_baseline)
        _console.print(f"baseline written to {save_baseline}")
    total = sum(r.seconds for r in reports) + sum(ctx.timings.values())
    _console.print(f"report: {page}  ({total:.0f} s)")
    if not passed:
        raise typer.Exit(code=1)


def _show_gate(gate: dict[str, object]) -> None:
    checks = gate["checks"]
    assert isinstance(checks, list)
    regressed = [c for c in checks if c["regressed"]]
    table = Table(title=f"gate against {gate['baseline']}", title_justify="left")
    for column in ("suite", "metric", "baseline", "now", "tolerance", ""):
        table.add_column(column)
    for c in regressed or checks[:0]:
        table.add_row(
            c["suite"],
            c["metric"],
            f"{c['baseline']:.2f}",
            "missing" if c["value"] is None else f"{c['value']:.2f}",
            f"{c['tolerance']:.2f}",
            "[red]regressed[/red]",
        )
    if regressed:
        _console.print(table)
        _console.print(f"[red]gate failed[/red]: {len(regressed)} of {len(checks)} metrics")
    else:
        _console.print(f"[green]gate passed[/green]: {len(checks)} metrics within tolerance")


@eval_app.command("decisions")
def decisions_command(
    file: Annotated[
        Path | None,
        typer.Argument(help="Your own labelled texts (JSONL or CSV); default: --dataset."),
    ] = None,
    dataset: Annotated[
        DecisionsDataset, typer.Option(help="A shipped labelled set (when no FILE is given).")
    ] = DecisionsDataset.acme,
    limit: Limit = None,
    knowledge: Knowledge = None,
    out: Out = None,
    baseline: Baseline = None,
    tolerance: Tolerance = None,
    save_baseline: SaveBaseline = None,
) -> None:
    """Labelled first texts through the real pipeline: answered right, wrong, handed off."""
    from app.evals.runner import run_decisions

    source: str | Path = file if file is not None else dataset.value
    _run(
        "decisions",
        lambda ctx: [run_decisions(ctx, source, limit=limit)],
        knowledge=knowledge,
        out=out,
        baseline=baseline,
        tolerance=tolerance,
        save_baseline=save_baseline,
    )


@eval_app.command("conversations")
def conversations_command(
    path: Annotated[
        Path | None,
        typer.Argument(help="A scenario file or folder of *.yaml (default evals/conversations)."),
    ] = None,
    knowledge: Knowledge = None,
    out: Out = None,
    baseline: Baseline = None,
    tolerance: Tolerance = None,
    save_baseline: SaveBaseline = None,
) -> None:
    """Multi-turn YAML scenarios, with agent steps, through the real pipeline."""
    from app.evals.conversations import DEFAULT_PATH
    from app.evals.runner import run_conversations

    _run(
        "conversations",
        lambda ctx: [run_conversations(ctx, path or DEFAULT_PATH)],
        knowledge=knowledge,
        out=out,
        baseline=baseline,
        tolerance=tolerance,
        save_baseline=save_baseline,
    )


@eval_app.command("compliance")
def compliance_command(
    file: Annotated[
        Path | None,
        typer.Argument(help="A SPEC §13 case file (default evals/compliance/cases_public.jsonl)."),
    ] = None,
    out: Out = None,
    baseline: Baseline = None,
    tolerance: Tolerance = None,
    save_baseline: SaveBaseline = None,
) -> None:
    """Compliance cases through the real code path (one shared in-memory ledger)."""
    from app.evals.compliance_cases import DEFAULT_CASES
    from app.evals.runner import run_compliance

    _run(
        "compliance",
        lambda ctx: [run_compliance(ctx, file or DEFAULT_CASES)],
        knowledge=None,
        out=out,
        baseline=baseline,
        tolerance=tolerance,
        save_baseline=save_baseline,
    )


@eval_app.command("intents")
def intents_command(
    dataset: Annotated[
        IntentDataset, typer.Option(help="A public data set, or kb: your own catalogue.")
    ],
    json_out: JsonOut = None,
    limit: Limit = None,
    finetune: Annotated[
        bool,
        typer.Option(
            help="Also fine-tune the encoder's top layers and report both (minutes on a CPU; "
            "the product serves the frozen encoder)."
        ),
    ] = False,
    knowledge: Knowledge = None,
    out: Out = None,
    baseline: Baseline = None,
    tolerance: Tolerance = None,
    save_baseline: SaveBaseline = None,
) -> None:
    """Intents and out-of-scope: public data sets (train, tune on validation, report on
    test), or `kb`: your catalogue cross-validated, with the intents and entries that collide."""
    from app.evals.intents import evaluate_intents
    from app.evals.runner import run_catalogue

    def work(ctx: EvalContext) -> list[EvalReport]:
        if dataset is IntentDataset.kb:
            return [run_catalogue(ctx)]
        return [timed(lambda: evaluate_intents(dataset.value, limit=limit, finetune=finetune))]

    _run(
        "intents",
        work,
        knowledge=knowledge,
        out=out,
        baseline=baseline,
        tolerance=tolerance,
        save_baseline=save_baseline,
        json_out=json_out,
    )


@eval_app.command("sentiment")
def sentiment_command(
    dataset: Annotated[
        SentimentDataset,
        typer.Option(help="decisions: the tone labels of the decisions file; tweeteval: --path."),
    ],
    path: Annotated[
        Path | None,
        typer.Option(
            help="tweeteval: the test file (JSONL with text and label), not shipped; "
            "decisions: a labelled file (default the acme set)."
        ),
    ] = None,
    json_out: JsonOut = None,
    limit: Limit = None,
    knowledge: Knowledge = None,
    out: Out = None,
    baseline: Baseline = None,
    tolerance: Tolerance = None,
    save_baseline: SaveBaseline = None,
) -> None:
    """Whether negative sentiment means anger (what escalation needs): TweetEval or the tone
    labels of a decisions file."""
    from app.evals.runner import run_tone
    from app.evals.sentiment import evaluate_sentiment

    def work(ctx: EvalContext) -> list[EvalReport]:
        if dataset is SentimentDataset.decisions:
            return [run_tone(ctx, path or "acme")]
        if path is None:
            fail("--dataset tweeteval needs --path (the TweetEval test file is not shipped)")
        return [timed(lambda: evaluate_sentiment(dataset.value, path, limit=limit))]

    _run(
        "sentiment",
        work,
        knowledge=knowledge,
        out=out,
        baseline=baseline,
        tolerance=tolerance,
        save_baseline=save_baseline,
        json_out=json_out,
    )


@eval_app.command("retrieval")
def retrieval_command(
    dataset: Annotated[RetrievalDataset, typer.Option(help="Which public data set.")],
    json_out: JsonOut = None,
    limit: Annotated[int | None, typer.Option(help="Use at most this many queries.")] = None,
    out: Out = None,
    baseline: Baseline = None,
    tolerance: Tolerance = None,
    save_baseline: SaveBaseline = None,
) -> None:
    """Knowledge retrieval (Recall@1, Recall@5, MRR)."""
    from app.evals.retrieval import evaluate_retrieval

    _run(
        "retrieval",
        lambda ctx: [timed(lambda: evaluate_retrieval(dataset.value, limit=limit))],
        knowledge=None,
        out=out,
        baseline=baseline,
        tolerance=tolerance,
        save_baseline=save_baseline,
        json_out=json_out,
    )


@eval_app.command("latency")
def latency_command(
    file: Annotated[
        Path | None, typer.Argument(help="Labelled texts to time (default: the acme set).")
    ] = None,
    repeats: Annotated[int, typer.Option(min=1, max=20, help="Passes over the texts.")] = 2,
    knowledge: Knowledge = None,
    out: Out = None,
    baseline: Baseline = None,
    tolerance: Tolerance = None,
    save_baseline: SaveBaseline = None,
) -> None:
    """The AI layer's p50/p95 per text, beside the embedding alone in the same run."""
    from app.evals.runner import run_latency

    _run(
        "latency",
        lambda ctx: [run_latency(ctx, file or "acme", repeats=repeats)],
        knowledge=knowledge,
        out=out,
        baseline=baseline,
        tolerance=tolerance,
        save_baseline=save_baseline,
    )


@eval_app.command("flow-replies")
def flow_replies_command(
    split: Annotated[
        ReplySplit,
        typer.Option(help="dev (tune on it), test (held out: report, never tune) or both."),
    ] = ReplySplit.both,
    out: Out = None,
    baseline: Baseline = None,
    tolerance: Tolerance = None,
    save_baseline: SaveBaseline = None,
) -> None:
    """Customers' labelled replies to the shipped flows' questions, read as the pipeline
    reads them (compliance first, then option keys, yes/no, the sentence encoder)."""
    from app.evals.runner import run_flow_replies

    splits = ["dev", "test"] if split is ReplySplit.both else [split.value]
    _run(
        "flow-replies",
        lambda ctx: [run_flow_replies(ctx, name) for name in splits],
        knowledge=None,
        out=out,
        baseline=baseline,
        tolerance=tolerance,
        save_baseline=save_baseline,
    )


@eval_app.command("all")
def all_command(
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="Only the CI subset: the decisions sets, the conversations, the public "
            "compliance cases (about 2 minutes).",
        ),
    ] = False,
    knowledge: Knowledge = None,
    out: Out = None,
    baseline: Baseline = None,
    tolerance: Tolerance = None,
    save_baseline: SaveBaseline = None,
) -> None:
    """Every suite on the shipped data, one report (the public data sets take minutes)."""
    from app.evals.compliance_cases import DEFAULT_CASES
    from app.evals.conversations import DEFAULT_PATH
    from app.evals.intents import evaluate_intents
    from app.evals.retrieval import evaluate_retrieval
    from app.evals.runner import (
        run_catalogue,
        run_compliance,
        run_conversations,
        run_decisions,
        run_flow_replies,
        run_latency,
        run_tone,
    )

    def work(ctx: EvalContext) -> list[EvalReport]:
        reports = [
            run_decisions(ctx, "acme", limit=None),
            run_decisions(ctx, "acme-holdout", limit=None),
            run_decisions(ctx, "bitext-handoff", limit=None),
            run_conversations(ctx, DEFAULT_PATH),
            run_compliance(ctx, DEFAULT_CASES),
        ]
        if quick:
            return reports
        reports += [run_flow_replies(ctx, "dev"), run_flow_replies(ctx, "test")]
        reports += [run_catalogue(ctx), run_tone(ctx, "acme"), run_latency(ctx, "acme", repeats=2)]
        for name in ("clinc150", "banking77", "hwu64"):
            _console.print(f"[dim]intents · {name} (train, tune, test)...[/dim]")
            reports.append(timed(lambda name=name: evaluate_intents(name)))  # type: ignore[misc]
        _console.print("[dim]retrieval · bitext...[/dim]")
        reports.append(timed(lambda: evaluate_retrieval("bitext")))
        return reports

    _run(
        "all-quick" if quick else "all",
        work,
        knowledge=knowledge,
        out=out,
        baseline=baseline,
        tolerance=tolerance,
        save_baseline=save_baseline,
    )
