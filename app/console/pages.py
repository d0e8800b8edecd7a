"""Console pages (server-rendered) and the partials htmx swaps into them."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response

from app.ai.knowledge_edit import read_knowledge
from app.api.deps import RuntimeDep
from app.console.auth import SESSION_COOKIE, find_session
from app.console.canned import load_canned
from app.console.deps import ConsoleContext, DbSession, PageContextDep
from app.console.flow_engine import find_flow, flow_catalogue
from app.console.profile import customer_profile
from app.console.templating import render
from app.console.views import (
    THREAD_WINDOW,
    ComposerWatch,
    ConversationView,
    conversation_view,
    queue_rows,
    teams,
    visible_conversation,
)
from app.handoff.claims import OUTCOMES, QUEUE_VIEWS, QueueView, count_views

router = APIRouter(prefix="/console", include_in_schema=False)

SNOOZE_CHOICES = (("30", "30 min"), ("60", "1 hour"), ("240", "4 hours"), ("1440", "1 day"))


def safe_next(path: str | None) -> str:
    """Only a path inside the console may be the target after signing in (no open redirect)."""
    if path and path.startswith("/console/") and not path.startswith("/console//"):
        return path
    return "/console/"


@router.get("/login")
def login_page(request: Request, db: DbSession, next: str | None = None) -> Response:
    """The sign-in form (an agent already signed in goes straight on)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token and find_session(db, token=token):
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next_path": safe_next(next)})


@router.get("/")
def queue_page(
    request: Request, console: PageContextDep, db: DbSession, view: str = "open"
) -> Response:
    """The human queue, most urgent first, live."""
    return _queue(request, console, db, view, "queue.html")


@router.get("/partials/queue")
def queue_partial(
    request: Request, console: PageContextDep, db: DbSession, view: str = "open"
) -> Response:
    """The queue's tabs and table (swapped in on every queue change)."""
    return _queue(request, console, db, view, "partials/queue.html")


def _queue(
    request: Request, console: ConsoleContext, db: DbSession, view: str, template: str
) -> Response:
    chosen: QueueView = view if view in QUEUE_VIEWS else "open"
    return render(
        request,
        template,
        {
            "console": console,
            "section": "queue",
            "view": chosen,
            "views": QUEUE_VIEWS,
            "rows": queue_rows(db, agent=console.agent, view=chosen),
            "counts": count_views(db, agent=console.agent),
        },
    )


def load_view(
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    conversation_id: uuid.UUID,
    *,
    history: str | None = None,
) -> ConversationView:
    """The conversation as the page shows it (`history="all"`: every text, not only the
    newest); 404 when it is not one of the agent's brands."""
    conversation = visible_conversation(db, agent=console.agent, conversation_id=conversation_id)
    if conversation is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such conversation")
    newest = None if history == "all" else THREAD_WINDOW
    return conversation_view(
        db, conversation=conversation, ledger=runtime.compliance.ledger, newest=newest
    )


def conversation_context(
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    view: ConversationView,
) -> dict[str, object]:
    """What the conversation templates need besides the view itself."""
    canned = load_canned(runtime.settings.canned_responses_file)
    run = view.flow_run
    kb = read_knowledge(runtime.settings.knowledge_dir)
    return {
        # Entries the AI retrieved, by id: the thread shows their agent-facing body.
        "knowledge": {} if isinstance(kb, Exception) else {e.id: e for e in kb.entries},
        "flow": find_flow(flow_catalogue(runtime.settings), run.flow) if run else None,
        "console": console,
        "section": "queue",
        "v": view,
        "mine": view.owned_by(console.agent),
        "manages": console.agent.role in ("supervisor", "admin"),
        "outcomes": OUTCOMES,
        "snooze_choices": SNOOZE_CHOICES,
        "teams": teams(db, knowledge_dir=runtime.settings.knowledge_dir),
        "canned": canned,
        "send_key": uuid.uuid4().hex,
        "watch": ComposerWatch.of(view),
        "profile": customer_profile(
            db, context=runtime.context, agent=console.agent, conversation=view.conversation
        ),
    }


@router.get("/conversations/{conversation_id}")
def conversation_page(
    request: Request,
    conversation_id: uuid.UUID,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    history: str | None = None,
) -> Response:
    """One conversation: the thread with the AI's view, consent, notes and the composer."""
    view = load_view(runtime, console, db, conversation_id, history=history)
    return render(request, "conversation.html", conversation_context(runtime, console, db, view))


_PARTS = {
    "head": "partials/conv_head.html",
    "thread": "partials/thread_live.html",
    "side": "partials/side.html",
    "composer": "partials/composer.html",
}


@router.get("/partials/conversations/{conversation_id}/composer-watch")
def composer_watch(
    request: Request,
    conversation_id: uuid.UUID,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    owner: str = "",
    shown: str = "",
    state: str = "",
) -> Response:
    """Asked on every live update: 204 while nothing the composer cares about changed; when
    the owner changed, `owner-changed` (the composer re-renders); otherwise the watcher anew
    (offering a newer AI draft, dropping the first-text reminder)."""
    view = load_view(runtime, console, db, conversation_id)
    watch = ComposerWatch.of(view, shown=shown)
    if watch.owner != owner:
        return Response(headers={"HX-Trigger": "owner-changed", "HX-Reswap": "none"})
    if watch.state == state:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    context = conversation_context(runtime, console, db, view) | {"watch": watch}
    return render(request, "partials/composer_watch.html", context)


@router.get("/partials/conversations/{conversation_id}/draft")
def latest_draft(
    request: Request,
    conversation_id: uuid.UUID,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
) -> Response:
    """The latest AI draft as the composer's text, and a watcher that knows it is shown."""
    view = load_view(runtime, console, db, conversation_id)
    context = conversation_context(runtime, console, db, view) | {"text": view.draft or ""}
    return render(request, "partials/draft_and_watch.html", context)


@router.get("/partials/conversations/{conversation_id}/{part}")
def conversation_partial(
    request: Request,
    conversation_id: uuid.UUID,
    part: str,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    history: str | None = None,
) -> Response:
    """One region of the conversation page, re-rendered after a change."""
    template = _PARTS.get(part)
    if template is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such part")
    view = load_view(runtime, console, db, conversation_id, history=history)
    return render(request, template, conversation_context(runtime, console, db, view))
