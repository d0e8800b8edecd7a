"""What agents do from the console's pages (htmx posts): queue actions, replies, notes.

Every action is audited. A refused action answers 200 with a message swapped into the page's
flash area (htmx does not swap error statuses); a done action asks the page to refresh the
regions it changed (`HX-Trigger: refresh`).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import Response
from sqlmodel import Session

from app.api.deps import RuntimeDep
from app.compliance.segments import MAX_TEXT_CHARS
from app.config import Settings
from app.console.bulk import BULK_ACTIONS, BulkRefused, run_bulk
from app.console.canned import VARIABLES, fill, load_canned
from app.console.deps import ConsoleContext, DbSession, PageContextDep
from app.console.pages import queue_choices
from app.console.queue_query import carried_from, carried_query
from app.console.templating import business_time, local_time, render, sentence
from app.console.views import teams, visible_conversation
from app.handoff import claims
from app.handoff.queue import unresolved_item
from app.handoff.routing import Routing, after_resolve
from app.media.store import MediaRejected, StoredFile, read_upload, reuse, save
from app.outbound.agent import send_agent_reply
from app.storage.messages import now
from app.storage.tables import Agent, ConversationNote, HandoffItem

router = APIRouter(prefix="/console", include_in_schema=False)

MAX_NOTE_CHARS = 4000

_REFUSED = {
    "not_found": "That conversation is not in your queue any more.",
    "conflict": "Someone else got there first: the page now shows who owns it.",
    "forbidden": "That conversation belongs to another team's queue.",
}


def flash(request: Request, message: str, *, kind: str = "error") -> Response:
    """A message for the page's flash area (and a refresh, since the page is likely stale)."""
    return render(
        request,
        "partials/flash.html",
        {"message": message, "kind": kind},
        headers={"HX-Retarget": "#flash", "HX-Reswap": "outerHTML", "HX-Trigger": "refresh"},
    )


def _queue_action(
    request: Request,
    db: DbSession,
    console: ConsoleContext,
    *,
    verb: str,
    item_id: uuid.UUID,
    result: claims.ActionResult,
    **detail: str,
) -> Response:
    console.audit_queue(db, verb, item_id, result, **detail)
    if result != "ok":
        return flash(request, _REFUSED[result])
    return Response(
        status_code=status.HTTP_204_NO_CONTENT, headers={"HX-Trigger": "refresh, owner-changed"}
    )


@router.post("/items/{item_id}/claim")
def claim(
    request: Request,
    item_id: uuid.UUID,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
) -> Response:
    """Own the conversation (exactly one of several agents clicking at once wins)."""
    result = claims.claim(db, agent=console.agent, item_id=item_id)
    response = _queue_action(request, db, console, verb="claim", item_id=item_id, result=result)
    item = db.get(HandoffItem, item_id)
    here = request.headers.get("HX-Current-URL", "")
    if result == "ok" and item is not None and not _on_conversation_page(here):
        # Claimed from the queue: open the conversation, which is what the agent wants next
        # (keeping the queue's search, for the next item after it is resolved).
        carry = carried_query(here, choices=queue_choices(runtime, console, db))
        location = f"/console/conversations/{item.conversation_id}"
        response.headers["HX-Location"] = f"{location}?{carry}" if carry else location
    return response


def _on_conversation_page(url: str) -> bool:
    return urlsplit(url).path.startswith("/console/conversations/")


@router.post("/items/{item_id}/release")
def release(
    request: Request, item_id: uuid.UUID, console: PageContextDep, db: DbSession
) -> Response:
    """Give the conversation back to the queue."""
    result = claims.release(db, agent=console.agent, item_id=item_id)
    return _queue_action(request, db, console, verb="release", item_id=item_id, result=result)


@router.post("/items/{item_id}/resolve")
def resolve(
    request: Request,
    item_id: uuid.UUID,
    outcome: Annotated[str, Form()],
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
) -> Response:
    """Close the item with an outcome tag (`return_to_bot` hands the thread back to the bot).

    Resolved on its conversation page, the agent goes on to the next item of their queue
    (searched as the queue they opened it from was), or back to the queue when none waits.
    """
    if outcome not in claims.OUTCOMES:
        return flash(request, f"Unknown outcome {outcome!r}.")
    result = claims.resolve(db, agent=console.agent, item_id=item_id, outcome=outcome)  # type: ignore[arg-type]
    if result == "ok":
        after_resolve(db, routing=Routing.from_settings(runtime.settings), item_id=item_id)
    response = _queue_action(
        request, db, console, verb="resolve", item_id=item_id, result=result, outcome=outcome
    )
    here = request.headers.get("HX-Current-URL", "")
    if result == "ok" and _on_conversation_page(here):
        # On to the next conversation: the page it leaves is not asked to refresh itself (a
        # refresh in flight would answer for a page that is gone).
        response.headers["HX-Location"] = _next_location(runtime, console, db, here, item_id)
        del response.headers["HX-Trigger"]
    return response


def _next_location(
    runtime: RuntimeDep, console: ConsoleContext, db: DbSession, here: str, done: uuid.UUID
) -> str:
    """The next item's conversation (or the queue), naming the item just resolved."""
    choices = queue_choices(runtime, console, db)
    where = carried_from(here, choices=choices)
    carry = carried_query(here, choices=choices)
    query = f"{carry}&done={done}" if carry else f"done={done}"
    found = claims.next_open_item(db, agent=console.agent, where=where)
    if found is None:
        return f"/console/?{query}"
    return f"/console/conversations/{found[1].id}?{query}"


def _agent_by_id(db: Session, value: str) -> Agent | None:
    try:
        return db.get(Agent, uuid.UUID(value))
    except ValueError:
        return None


@router.post("/items/{item_id}/assign")
def assign(
    request: Request,
    item_id: uuid.UUID,
    agent_id: Annotated[str, Form()],
    console: PageContextDep,
    db: DbSession,
) -> Response:
    """A supervisor gives the conversation to an agent."""
    to = _agent_by_id(db, agent_id)
    if to is None:
        return flash(request, "No such agent.")
    if not claims.manages(console.agent):
        return flash(request, "Only supervisors and admins assign conversations.")
    result = claims.assign(db, by=console.agent, to=to, item_id=item_id)
    return _queue_action(
        request, db, console, verb="assign", item_id=item_id, result=result, to=to.email
    )


@router.post("/items/{item_id}/transfer")
def transfer(
    request: Request,
    item_id: uuid.UUID,
    console: PageContextDep,
    db: DbSession,
    target: Annotated[str, Form(max_length=100)],
) -> Response:
    """Hand the conversation to another agent (`agent:<id>`) or a team's queue (`team:<name>`)."""
    kind, _, value = target.partition(":")
    if kind == "agent":
        to = _agent_by_id(db, value)
        if to is None:
            return flash(request, "No such agent.")
        result = claims.transfer(db, agent=console.agent, item_id=item_id, to=to)
    elif kind == "team" and value:
        result = claims.transfer(db, agent=console.agent, item_id=item_id, team=value)
    else:
        return flash(request, "Choose an agent or a team to transfer to.")
    return _queue_action(
        request, db, console, verb="transfer", item_id=item_id, result=result, to=target
    )


@router.post("/items/{item_id}/snooze")
def snooze(
    request: Request,
    item_id: uuid.UUID,
    minutes: Annotated[int, Form(ge=1, le=claims.MAX_SNOOZE_MINUTES)],
    console: PageContextDep,
    db: DbSession,
) -> Response:
    """Put the conversation aside until later (or until the customer writes again)."""
    until = now() + timedelta(minutes=minutes)
    result = claims.snooze(db, agent=console.agent, item_id=item_id, until=until)
    return _queue_action(
        request, db, console, verb="snooze", item_id=item_id, result=result, until=until.isoformat()
    )


@router.post("/queue/bulk")
def bulk(
    request: Request,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    action: Annotated[str, Form(max_length=20)],
    item: Annotated[list[str] | None, Form(max_length=40)] = None,
    agent_id: Annotated[str, Form(max_length=40)] = "",
    team: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Resolve as spam, assign or transfer the selected queue items, each as one click would;
    the flash says how many were done and why any was skipped."""
    if action not in BULK_ACTIONS:
        return flash(request, f"Unknown bulk action {action[:20]!r}.")
    try:
        item_ids = [uuid.UUID(value) for value in item or []]
    except ValueError:
        return flash(request, "The selection holds something that is not a queue item.")
    to = _agent_by_id(db, agent_id) if agent_id else None
    if agent_id and to is None:
        return flash(request, "No such agent.")
    try:
        report = run_bulk(
            db,
            console,
            action=action,
            item_ids=item_ids,
            to=to,
            team=team or None,
            teams=teams(db, knowledge_dir=runtime.settings.knowledge_dir),
            routing=Routing.from_settings(runtime.settings),
        )
    except BulkRefused as exc:
        return flash(request, sentence(exc))
    kind = "info" if not report.skipped else ("warn" if report.done else "error")
    return flash(request, report.summary, kind=kind)


@router.post("/conversations/{conversation_id}/send")
def send(
    request: Request,
    conversation_id: uuid.UUID,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    send_key: Annotated[str, Form(min_length=8, max_length=64)],
    body: Annotated[str, Form(max_length=MAX_TEXT_CHARS)] = "",
    schedule: Annotated[bool, Form()] = False,
    picture: Annotated[UploadFile | None, File()] = None,
    picture_key: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Send the agent's reply (text, a picture, or both) through the outbound gate; say why
    when it cannot go now."""
    conversation = visible_conversation(db, agent=console.agent, conversation_id=conversation_id)
    if conversation is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such conversation")
    text = body.strip()
    item = unresolved_item(db, conversation_id=conversation.id)
    if item is None or item.status != "claimed" or item.assigned_to != console.agent.id:
        return flash(request, "Claim the conversation before you reply.")
    try:
        pictures = _attached(runtime.settings, picture, picture_key)
    except MediaRejected as exc:
        console.audit(db, "reply.picture_refused", str(conversation.id), reason=str(exc))
        return flash(request, f"Not sent: {exc}.")
    if not text and not pictures:
        return flash(request, "Write something to send, or attach a picture.")
    # End this request's transaction first: on SQLite it holds the one write lock, which the
    # gate's and the queue's own sessions are about to ask for. (Commit, not rollback: that
    # would expire `conversation`, and reloading it would take the lock straight back.)
    db.commit()
    outcome = send_agent_reply(
        runtime.engine,
        runtime.compliance,
        conversation=conversation,
        body=text,
        key=send_key,
        provider=runtime.sender.name,
        schedule=schedule,
        pictures=pictures,
    )
    decision = outcome.decision
    if outcome.status == "blocked":
        assert decision is not None
        console.audit(db, "reply.blocked", str(conversation.id), rule=decision.rule)
        return flash(request, _blocked_message(decision.rule, decision.reasons))
    if outcome.status == "needs_schedule":
        assert decision is not None
        return render(
            request,
            "partials/schedule_offer.html",
            {
                "console": console,
                "conversation": conversation,
                "decision": decision,
                "send_at": outcome.send_at,
                "body": text,
                "send_key": send_key,
                "picture_key": pictures[0].key if pictures else "",
            },
            headers={"HX-Retarget": "#flash", "HX-Reswap": "outerHTML"},
        )
    if outcome.status != "duplicate":
        claims.mark_first_response(db, item_id=item.id)
        assert outcome.message is not None
        console.audit(
            db,
            "reply.scheduled" if outcome.status == "scheduled" else "reply.queued",
            str(conversation.id),
            message_id=str(outcome.message.id),
            pictures=len(pictures),
        )
        runtime.jobs.notify()
    note = (
        f"Scheduled: it goes out {local_time(decision.next_allowed_local)} for the customer"
        f" ({business_time(outcome.send_at, runtime.settings.business_timezone)})."
        if outcome.status == "scheduled" and outcome.send_at and decision
        else None
    )
    return render(
        request,
        "partials/sent.html",
        {"message": note},
        headers={"HX-Retarget": "#flash", "HX-Reswap": "outerHTML", "HX-Trigger": "refresh, sent"},
    )


def _attached(settings: Settings, upload: UploadFile | None, key: str) -> list[StoredFile]:
    """The reply's picture, checked (type by its bytes, size) and stored; `MediaRejected`."""
    limit = settings.media_max_bytes
    if upload is not None and upload.filename:
        data = read_upload(upload.file, max_bytes=limit)
        return [save(settings.media_path, data, max_bytes=limit)]
    if key:
        return [reuse(settings.media_path, key, max_bytes=limit)]
    return []


def _blocked_message(rule: str, reasons: list[str]) -> str:
    why = {
        "opted_out": "the customer has opted out (STOP); nothing may be texted to them",
        "content_blocked": "the text breaks a content rule",
        "unknown_location": "the customer's location is unknown, so quiet hours cannot be checked",
    }.get(rule, rule.replace("_", " "))
    detail = f" ({'; '.join(reasons)})" if reasons else ""
    return f"Not sent: {why}{detail}."


@router.post("/conversations/{conversation_id}/notes")
def add_note(
    request: Request,
    conversation_id: uuid.UUID,
    console: PageContextDep,
    db: DbSession,
    body: Annotated[str, Form(max_length=MAX_NOTE_CHARS)],
) -> Response:
    """Leave an internal note (never sent to the customer)."""
    conversation = visible_conversation(db, agent=console.agent, conversation_id=conversation_id)
    if conversation is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such conversation")
    if not body.strip():
        return flash(request, "An empty note says nothing.")
    db.add(
        ConversationNote(
            conversation_id=conversation.id,
            agent_id=console.agent.id,
            body=body.strip(),
            created_at=now(),
        )
    )
    console.audit(db, "note.added", str(conversation.id))
    return render(
        request,
        "partials/note_form.html",
        {"v": {"conversation": conversation}},
        headers={"HX-Trigger": "refresh"},
    )


@router.post("/segments")
def segments(
    request: Request, console: PageContextDep, body: Annotated[str, Form()] = ""
) -> Response:
    """The composer's live counter: characters, encoding and segments of the text so far."""
    return render(request, "partials/counter.html", {"text": body})


@router.get("/conversations/{conversation_id}/canned")
def canned(
    request: Request,
    conversation_id: uuid.UUID,
    name: Annotated[str, Query(alias="canned", max_length=100)],
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
) -> Response:
    """A canned response with its variables filled in, as the composer's text."""
    conversation = visible_conversation(db, agent=console.agent, conversation_id=conversation_id)
    if conversation is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such conversation")
    settings = runtime.settings
    values = dict(
        zip(
            VARIABLES,
            (
                console.agent.display_name,
                settings.brand_name,
                conversation.phone_e164,
                settings.support_phone,
                settings.support_url,
            ),
            strict=True,
        )
    )
    for entry in load_canned(settings.canned_responses_file):
        if entry.name == name:
            return render(request, "partials/draft.html", {"text": fill(entry.text, values)})
    raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such canned response")
