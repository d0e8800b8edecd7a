"""The Knowledge pages: every agent reads the entries; admins add and edit them.

A save is validated exactly as `smsdesk kb check` validates the folder, written atomically,
audited, and announced to every process that answers texts (they use it from their next
text, no restart: `app.ai.knowledge_version`). Forms post with htmx and get the re-rendered
form back, with the problems next to their fields (200 either way, like the agents page).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import Response

from app.ai.knowledge import KnowledgeBase, KnowledgeEntry, KnowledgeError
from app.ai.knowledge_edit import SPECIFICS, EntryForm, Refused, read_knowledge, save_entry
from app.api.deps import RuntimeDep
from app.console.admin import require_admin
from app.console.deps import ConsoleContext, DbSession, PageContextDep
from app.console.templating import render

router = APIRouter(prefix="/console", include_in_schema=False)


def _matches(entry: KnowledgeEntry, query: str) -> bool:
    needle = query.strip().lower()
    return not needle or needle in entry.id.lower() or needle in entry.question.lower()


def _knowledge(runtime: RuntimeDep) -> tuple[KnowledgeBase | None, KnowledgeError | None]:
    found = read_knowledge(runtime.settings.knowledge_dir)
    return (None, found) if isinstance(found, KnowledgeError) else (found, None)


@router.get("/knowledge")
def knowledge_page(
    request: Request, runtime: RuntimeDep, console: PageContextDep, q: str = ""
) -> Response:
    """The entries, filtered by id or question; the folder's problems if it does not validate."""
    kb, problem = _knowledge(runtime)
    entries = [e for e in kb.entries if _matches(e, q)] if kb else []
    return render(
        request,
        "knowledge.html",
        {
            "console": console,
            "section": "knowledge",
            "kb": kb,
            "problem": problem,
            "entries": entries,
            "q": q,
            "can_edit": console.agent.role == "admin",
        },
    )


def _form_panel(
    request: Request,
    runtime: RuntimeDep,
    console: ConsoleContext,
    *,
    form: EntryForm,
    editing: str | None,
    refused: Refused | None = None,
    notice: str | None = None,
    template: str = "partials/knowledge_form.html",
) -> Response:
    kb, problem = _knowledge(runtime)
    return render(
        request,
        template,
        {
            "console": console,
            "section": "knowledge",
            "form": form,
            "editing": editing,
            "refused": refused or Refused(),
            "notice": notice,
            "intents": sorted(kb.intents) if kb else [],
            "teams": sorted(kb.teams) if kb else [],
            "specifics": SPECIFICS,
            "problem": problem,
            "entry": kb.entry(editing) if kb and editing and editing in _ids(kb) else None,
            "can_edit": console.agent.role == "admin",
        },
    )


def _ids(kb: KnowledgeBase) -> set[str]:
    return {e.id for e in kb.entries}


@router.get("/knowledge/new")
def new_entry_page(request: Request, runtime: RuntimeDep, console: PageContextDep) -> Response:
    """An empty entry form (admins only)."""
    require_admin(console.agent)
    return _form_panel(
        request, runtime, console, form=EntryForm(), editing=None, template="knowledge_entry.html"
    )


@router.get("/knowledge/{entry_id}")
def entry_page(
    request: Request, entry_id: str, runtime: RuntimeDep, console: PageContextDep
) -> Response:
    """One entry as customers and agents get it; admins edit it here."""
    kb, _ = _knowledge(runtime)
    if kb is None or entry_id not in _ids(kb):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such entry")
    return _form_panel(
        request,
        runtime,
        console,
        form=EntryForm.of(kb.entry(entry_id)),
        editing=entry_id,
        template="knowledge_entry.html",
    )


def _save(
    request: Request,
    runtime: RuntimeDep,
    console: ConsoleContext,
    db: DbSession,
    form: EntryForm,
    editing: str | None,
) -> Response:
    require_admin(console.agent)
    target = editing or form.id.strip()
    outcome = save_entry(runtime.settings, form, editing=editing)
    if isinstance(outcome, Refused):
        console.audit(
            db,
            "knowledge.save_refused",
            target,
            fields=sorted(outcome.fields),
            problems=len(outcome.other) + sum(len(v) for v in outcome.fields.values()),
        )
        return _form_panel(request, runtime, console, form=form, editing=editing, refused=outcome)
    entry = outcome.entry
    console.audit(
        db,
        "knowledge.entry_created" if outcome.created else "knowledge.entry_edited",
        entry.id,
        answer=entry.answer,
    )
    verb = "Added" if outcome.created else "Saved"
    return _form_panel(
        request,
        runtime,
        console,
        form=EntryForm.of(entry),
        editing=entry.id,
        notice=f"{verb} {entry.id}. The bot answers with it from the next text.",
    )


@router.post("/knowledge/new")
def add_entry(
    request: Request,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    form: Annotated[EntryForm, Form()],
) -> Response:
    """Add an entry (admins only), validated like `smsdesk kb check`."""
    return _save(request, runtime, console, db, form, None)


@router.post("/knowledge/{entry_id}")
def edit_entry(
    request: Request,
    entry_id: str,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    form: Annotated[EntryForm, Form()],
) -> Response:
    """Save an entry's fields (admins only; its id stays), validated like `smsdesk kb check`."""
    kept_id = form.model_copy(update={"id": entry_id})
    return _save(request, runtime, console, db, kept_id, entry_id)
