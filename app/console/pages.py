"""Console pages (server-rendered) and the partials htmx swaps into them."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response

from app.ai.knowledge_edit import read_knowledge
from app.api.deps import RuntimeDep
from app.console.auth import SESSION_COOKIE, find_session
from app.console.canned import load_canned
from app.console.contact_card import card_context
from app.console.deps import ConsoleContext, DbSession, PageContextDep
from app.console.events import stream_url
from app.console.flow_engine import find_flow, flow_catalogue
from app.console.profile import customer_profile
from app.console.queue_query import (
    FilterChoices,
    QueueQuery,
    QueueQueryError,
    filter_choices,
    parse_queue_query,
)
from app.console.templating import reason_label, render, sentence
from app.console.views import (
    QUEUE_PAGE,
    THREAD_WINDOW,
    ComposerWatch,
    ConversationView,
    conversation_view,
    queue_rows,
    teams,
    visible_conversation,
)
from app.handoff import claims
from app.handoff.claims import OUTCOMES, QUEUE_VIEWS, count_items, count_views
from app.handoff.contacts import find_contact
from app.handoff.search import ITEM_STATES
from app.pipeline.decision import Reason
from app.storage.tables import Agent, Conversation

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
    request: Request, runtime: RuntimeDep, console: PageContextDep, db: DbSession
) -> Response:
    """The human queue, most urgent first, live; searched and filtered by its query string."""
    live = stream_url(db)  # first: see `stream_url`
    return _queue(request, runtime, console, db, "queue.html", live=live)


@router.get("/partials/queue")
def queue_partial(
    request: Request, runtime: RuntimeDep, console: PageContextDep, db: DbSession
) -> Response:
    """The queue's tabs and table (swapped in on every queue change), with the same filter."""
    return _queue(request, runtime, console, db, "partials/queue.html")


def queue_choices(runtime: RuntimeDep, console: ConsoleContext, db: DbSession) -> FilterChoices:
    """What the agent may filter the queue by."""
    settings = runtime.settings
    return filter_choices(
        db,
        agent=console.agent,
        settings=settings,
        teams=teams(db, knowledge_dir=settings.knowledge_dir),
    )


def _queue(
    request: Request,
    runtime: RuntimeDep,
    console: ConsoleContext,
    db: DbSession,
    template: str,
    *,
    live: str | None = None,
) -> Response:
    """The page (with `live`, its stream) or the partial the stream refreshes."""
    choices = queue_choices(runtime, console, db)
    agent = console.agent
    error = None
    try:
        query = parse_queue_query(request.query_params, choices=choices)
    except QueueQueryError as exc:
        error = sentence(exc)
        query = QueueQuery(given={k: v for k, v in request.query_params.items() if k != "page"})
    counts = count_views(db, agent=agent, where=query.where)
    total = counts.get(query.view)
    if total is None:
        total = count_items(db, agent=agent, view=query.view, where=query.where)
    rows = (
        []
        if error
        else queue_rows(db, agent=agent, view=query.view, where=query.where, offset=query.offset)
    )
    return render(
        request,
        template,
        {
            "console": console,
            "section": "queue",
            "live": live,
            "query": query,
            "view": query.view,
            "views": QUEUE_VIEWS,
            "rows": rows,
            "counts": counts,
            "total": total,
            "page_size": QUEUE_PAGE,
            "filter_error": error,
            "choices": choices,
            "reasons": list(Reason),
            "states": ITEM_STATES,
            "manages": claims.manages(agent),
            "page_flash": resolved_notice(
                db, agent=agent, done=request.query_params.get("done"), next_shown=False
            ),
        },
        status_code=status.HTTP_400_BAD_REQUEST if error and template == "queue.html" else 200,
    )


def resolved_notice(
    db: DbSession, *, agent: Agent, done: str | None, next_shown: bool
) -> str | None:
    """What the page says after the agent resolved item `done` on a conversation page and
    was brought here: the next conversation of their queue, or the queue when none waits."""
    try:
        item = claims.visible_item(db, agent=agent, item_id=uuid.UUID(done or ""))
    except ValueError:
        return None
    if item is None or item.status != "resolved" or item.outcome is None:
        return None
    conversation = db.get(Conversation, item.conversation_id)
    phone = conversation.phone_e164 if conversation is not None else "the conversation"
    then = "This is the next one in your queue." if next_shown else "Nothing else waits for you."
    return f"Resolved {phone} ({reason_label(item.outcome)}). {then}"


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
    } | _contact_card(db, console, view)


def _contact_card(
    db: DbSession, console: ConsoleContext, view: ConversationView
) -> dict[str, object]:
    """The contact's card beside the conversation (always found: the agent sees the brand)."""
    conversation = view.conversation
    contact = find_contact(
        db, agent=console.agent, brand=conversation.brand, phone=conversation.phone_e164
    )
    return card_context(db, contact) if contact is not None else {"contact": None}


@router.get("/conversations/{conversation_id}")
def conversation_page(
    request: Request,
    conversation_id: uuid.UUID,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    history: str | None = None,
    done: str | None = None,
) -> Response:
    """One conversation: the thread with the AI's view, consent, notes and the composer.

    Opened from a filtered queue, its URL carries the queue's search (`q`, `reason`, ...):
    resolving it then goes on to the next item of that queue. `done`: the item just
    resolved, which the page names.
    """
    live = stream_url(db, conversation_id=conversation_id)  # first: see `stream_url`
    view = load_view(runtime, console, db, conversation_id, history=history)
    context = conversation_context(runtime, console, db, view)
    context["live"] = live
    context["page_flash"] = resolved_notice(db, agent=console.agent, done=done, next_shown=True)
    return render(request, "conversation.html", context)


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
