"""`smsdesk kb ...`: index, search and import the knowledge base."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.cli_output import fail, working
from app.config import get_settings
from app.errors import SmsdeskError

kb_app = typer.Typer(
    help="The knowledge base: sync it into the index, search it, import FAQs.",
    no_args_is_help=True,
)
_out = Console(soft_wrap=True, highlight=False)


class Layout(StrEnum):
    bitext = "bitext"
    simple = "simple"


@kb_app.command("check")
def check_command() -> None:
    """Validate the knowledge base (front matter, answers, intents) without indexing it."""
    from app.ai.knowledge import load_knowledge

    settings = get_settings()
    try:
        kb = load_knowledge(settings.knowledge_dir)
    except SmsdeskError as exc:
        fail(exc)
    _out.print(
        f"{settings.knowledge_dir}: {len(kb.entries)} entries, {len(kb.intents)} intents, "
        f"{len(kb.teams)} teams: valid"
    )


@kb_app.command("sync")
def sync_command() -> None:
    """Load the knowledge base, bring the index up to date (only changed entries re-embed)
    and tell running servers and workers to use it (no restart needed)."""
    from app.ai.index import KnowledgeIndex
    from app.ai.knowledge import load_knowledge
    from app.ai.knowledge_version import bump

    settings = get_settings()
    try:
        kb = load_knowledge(settings.knowledge_dir)
        with working("Loading the sentence encoder and the index"):
            index = KnowledgeIndex(settings)
        with Progress(
            TextColumn("embedding entries"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=_out,
            transient=True,
        ) as bar:
            task = bar.add_task("sync", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = index.sync(kb, progress=progress)
        documents = index.count()
        # Announced after the index is written: a process reloading on it finds its vectors.
        bump(settings)
    except SmsdeskError as exc:
        fail(exc)
    _out.print(
        f"added {len(report.added)}, updated {len(report.updated)}, "
        f"removed {len(report.removed)}, unchanged {len(report.unchanged)} "
        f"({len(kb.entries)} entries, {documents} documents in the index)"
    )
    for label, ids in (("added", report.added), ("updated", report.updated)):
        if ids:
            _out.print(f"{label}: {', '.join(ids)}")
    if report.removed:
        _out.print(f"removed: {', '.join(report.removed)}")
    _out.print("running servers and workers answer with it from their next text")


@kb_app.command("search")
def search_command(
    text: Annotated[str, typer.Argument(help="A customer text, as they would send it.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=50, help="How many entries.")] = 5,
) -> None:
    """Show what retrieval returns for a text, and why (score, matched phrasing, answer)."""
    from app.ai.index import KnowledgeIndex

    settings = get_settings()
    try:
        # About 10 s the first time in a process (the sentence encoder loads): say so.
        with working("Loading the sentence encoder and the index, then searching"):
            index = KnowledgeIndex(settings)
            empty = index.count() == 0
            hits = [] if empty else index.search(text, k)
    except SmsdeskError as exc:
        fail(exc)
    if empty:
        fail("the index is empty: run `smsdesk kb sync` first")
    threshold = settings.retrieval_min_score
    f = index.fusion
    _out.print(
        f"score = {1 - f.answer - f.lexical:.2f} x best phrasing + {f.answer:.2f} x "
        f"question+answer + {f.lexical:.2f} x character n-grams; below {threshold:g} "
        "(SMSDESK_RETRIEVAL_MIN_SCORE) an entry does not ground a reply\n"
    )
    for rank, hit in enumerate(hits, start=1):
        verdict = "" if hit.score >= threshold else "  (below the minimum)"
        lexical = (
            "" if hit.lexical_similarity is None else f", n-grams {hit.lexical_similarity:.3f}"
        )
        # markup=False: entry texts are content, not rich markup ("[" is common in FAQs).
        _out.print(f"{rank}. {hit.entry_id} ({hit.intent})  score {hit.score:.3f}{verdict}")
        _out.print(
            f"   phrasing {hit.similarity:.3f}, question+answer {hit.answer_similarity:.3f}"
            f"{lexical}"
        )
        _out.print(f"   matched ({hit.matched_view}): {hit.matched_text}", markup=False)
        _out.print(f"   answer: {hit.answer}", markup=False)


@kb_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="A FAQ export as CSV (UTF-8).")],
    layout: Annotated[
        Layout,
        typer.Option(
            help="simple: question, answer, intent [, id, phrasings (| separated), link, team]; "
            "bitext: the Bitext sample's columns (one entry per intent)."
        ),
    ] = Layout.simple,
    force: Annotated[bool, typer.Option(help="Replace entry files that already exist.")] = False,
) -> None:
    """Turn a FAQ export into Markdown entries in the knowledge folder (then run `kb sync`)."""
    from app.ai.knowledge import load_knowledge
    from app.ai.knowledge_import import import_bitext, import_simple, write_import

    root = get_settings().knowledge_dir
    try:
        result = import_bitext(file) if layout is Layout.bitext else import_simple(file)
        written = write_import(result, root, overwrite=force)
    except SmsdeskError as exc:
        fail(exc)
    _out.print(f"wrote {len(written)} entries to {root / 'entries'}")
    for warning in result.warnings:
        _out.print(f"review: {warning}", markup=False)
    try:
        load_knowledge(root)
    except SmsdeskError as exc:
        fail(f"the knowledge base does not validate after the import: {exc}")
    _out.print("the knowledge base validates; run `smsdesk kb sync` to index it")
