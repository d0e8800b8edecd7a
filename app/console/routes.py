"""Console routes: sign in and out under /console/, and the JSON queue API under /console/api/.

Every /console/api route sits behind the session dependency (401 without a session, 403 for a
state-changing request without its CSRF token); every action lands in the audit log.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request, Response, status
from fastapi.responses import RedirectResponse

from app.api.deps import AppSettingsDep
from app.config import Settings
from app.console import sign_in_limits
from app.console.auth import (
    LOGIN_FAILED,
    SESSION_COOKIE,
    SESSION_TTL,
    end_session,
    start_session,
)
from app.console.bulk import BulkRefused, run_bulk
from app.console.deps import ConsoleContextDep, DbSession, RequireSession, client_ip
from app.console.models import (
    ActionPublic,
    AgentPublic,
    AssignRequest,
    BulkPublic,
    BulkRequest,
    QueueItemPublic,
    ResolveRequest,
    SessionPublic,
    SnoozeRequest,
    TransferRequest,
)
from app.console.pages import safe_next
from app.console.queue_query import MAX_PAGE, filter_choices, parse_queue_query
from app.console.templating import render
from app.console.views import teams
from app.handoff import claims
from app.handoff.agents import audit, authenticate, normalise_email
from app.handoff.routing import Routing, after_resolve
from app.storage.messages import now
from app.storage.tables import Agent, HandoffItem

router = APIRouter(prefix="/console", tags=["console"])
api = APIRouter(prefix="/api", dependencies=[RequireSession])

_COOKIE_PATH = "/console"


def _secure_cookie(request: Request, settings: Settings) -> bool:
    # Plain http is only tolerated for local development and tests; anything else is https.
    return not (settings.env in ("dev", "test") and request.url.scheme == "http")


def _wants_html(request: Request) -> bool:
    # The sign-in page's form (a browser navigation) rather than a script asking for JSON.
    return "text/html" in request.headers.get("accept", "")


def _same_origin(request: Request) -> bool:
    # Login CSRF: a sign-in form posted from another site would log the victim into the
    # attacker's account. Browsers send Origin on every cross-site POST.
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


@router.post("/login", response_model=SessionPublic)
def login(
    request: Request,
    response: Response,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    db: DbSession,
    settings: AppSettingsDep,
    next: Annotated[str | None, Form(max_length=500)] = None,
) -> SessionPublic | Response:
    """Sign in with email and password: sets the session cookie, returns the CSRF token.

    A browser's form post (Accept: text/html) is redirected to the console instead, or shown
    the sign-in page again with what went wrong.
    """
    if not _same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="sign in from the console's own page")
    address, ip = normalise_email(email), client_ip(request)
    reservation = sign_in_limits.reserve(db, email=address, ip=ip)
    if reservation.retry_after is not None:
        message = "too many failed sign-ins; wait a while"
        headers = {"Retry-After": str(reservation.retry_after)}
        if _wants_html(request):
            return _login_again(request, email, next, message, 429, headers)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail={"code": "rate_limited", "message": message},
            headers=headers,
        )
    agent = authenticate(db, email=address, password=password)
    if agent is None:
        audit(db, action=LOGIN_FAILED, target=address, ip=ip)
        db.commit()
        if _wants_html(request):
            return _login_again(request, email, next, "Wrong email or password.", 401)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong email or password")
    sign_in_limits.release(db, reservation)
    started = start_session(db, agent=agent, ip=ip)
    audit(db, action="login", agent_id=agent.id, target=address, ip=ip)
    db.commit()
    if _wants_html(request):
        response = RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        started.token,
        max_age=int(SESSION_TTL.total_seconds()),
        path=_COOKIE_PATH,
        secure=_secure_cookie(request, settings),
        httponly=True,
        samesite="lax",
    )
    if isinstance(response, RedirectResponse):
        return response
    return SessionPublic(
        agent=AgentPublic.of(agent), csrf_token=started.csrf_token, expires_at=started.expires_at
    )


def _login_again(
    request: Request,
    email: str,
    next_path: str | None,
    error: str,
    status_code: int,
    headers: dict[str, str] | None = None,
) -> Response:
    context = {"error": error, "email": email, "next_path": safe_next(next_path)}
    return render(request, "login.html", context, status_code=status_code, headers=headers)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(
    request: Request, context: ConsoleContextDep, db: DbSession, settings: AppSettingsDep
) -> Response:
    """Sign out: the session ends on the server and the cookie is cleared."""
    assert context.session.id is not None
    end_session(db, session_id=context.session.id)
    audit(db, action="logout", agent_id=context.agent.id, target=context.agent.email, ip=context.ip)
    db.commit()
    # htmx (the console's sign-out button) follows HX-Redirect with a full page load.
    response = Response(
        status_code=status.HTTP_204_NO_CONTENT, headers={"HX-Redirect": "/console/login"}
    )
    response.delete_cookie(
        SESSION_COOKIE,
        path=_COOKIE_PATH,
        secure=_secure_cookie(request, settings),
        httponly=True,
        samesite="lax",
    )
    return response


@api.get("/me", response_model=SessionPublic)
def me(context: ConsoleContextDep) -> SessionPublic:
    """The signed-in agent and their session's CSRF token."""
    return SessionPublic(
        agent=AgentPublic.of(context.agent),
        csrf_token=context.session.csrf_token,
        expires_at=context.session.expires_at,
    )


API_PAGE = 500
"""Queue items one API page returns."""


@api.get("/queue", response_model=list[QueueItemPublic])
def list_queue(
    request: Request,
    context: ConsoleContextDep,
    db: DbSession,
    settings: AppSettingsDep,
    view: claims.QueueView = "open",
    q: Annotated[str | None, Query(description="a number, a customer's name or words")] = None,
    reason: str | None = None,
    team: str | None = None,
    status: Annotated[str | None, Query(description="open, claimed, snoozed or resolved")] = None,
    agent: Annotated[str | None, Query(description="the owner's agent id")] = None,
    from_: Annotated[str | None, Query(alias="from", description="queued on or after")] = None,
    to: Annotated[str | None, Query(description="queued on or before (a date)")] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> list[QueueItemPublic]:
    """Queue items of the agent's brands in one view (`open`, `mine`, `claimed`, `snoozed`,
    `all`), searched and filtered as the queue page is; most urgent first (`all`: newest)."""
    choices = filter_choices(
        db,
        agent=context.agent,
        settings=settings,
        teams=teams(db, knowledge_dir=settings.knowledge_dir),
    )
    query = parse_queue_query(request.query_params, choices=choices)  # 400 on a bad value
    at = now()
    found = claims.visible_items(
        db,
        agent=context.agent,
        view=query.view,
        where=query.where,
        limit=API_PAGE,
        offset=(page - 1) * API_PAGE,
    )
    return [QueueItemPublic.of(item, conversation, at) for item, conversation in found]


@api.post("/queue/bulk", response_model=BulkPublic)
def bulk_items(
    body: BulkRequest, context: ConsoleContextDep, db: DbSession, settings: AppSettingsDep
) -> BulkPublic:
    """Resolve as spam, assign or transfer several items, each as its single action would
    (each audited); the answer says what happened to every item."""
    to = db.get(Agent, body.agent_id) if body.agent_id is not None else None
    if body.agent_id is not None and to is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such agent")
    try:
        report = run_bulk(
            db,
            context,
            action=body.action,
            item_ids=body.item_ids,
            to=to,
            team=body.team,
            teams=teams(db, knowledge_dir=settings.knowledge_dir),
            routing=Routing.from_settings(settings),
        )
    except BulkRefused as exc:
        code = status.HTTP_403_FORBIDDEN if exc.forbidden else status.HTTP_400_BAD_REQUEST
        raise HTTPException(code, detail={"code": exc.code, "message": str(exc)}) from None
    return BulkPublic.of(report)


def _finish(
    db: DbSession,
    context: ConsoleContextDep,
    *,
    verb: str,
    item_id: uuid.UUID,
    result: claims.ActionResult,
    detail: dict[str, str] | None = None,
) -> ActionPublic:
    context.audit_queue(db, verb, item_id, result, **(detail or {}))
    if result == "not_found":
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such queue item")
    if result == "forbidden":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="the item is another team's")
    item = db.get(HandoffItem, item_id, populate_existing=True)
    assert item is not None
    if result == "conflict":
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail={
                "code": "conflict",
                "message": f"cannot {verb}: the item is {item.status}",
                "status": item.status,
            },
        )
    return ActionPublic(
        id=item.id, status=item.status, assigned_to=item.assigned_to, outcome=item.outcome
    )


@api.post("/queue/{item_id}/claim", response_model=ActionPublic)
def claim_item(item_id: uuid.UUID, context: ConsoleContextDep, db: DbSession) -> ActionPublic:
    """Own the conversation; exactly one of several agents claiming at once wins (409 else)."""
    result = claims.claim(db, agent=context.agent, item_id=item_id)
    return _finish(db, context, verb="claim", item_id=item_id, result=result)


@api.post("/queue/{item_id}/release", response_model=ActionPublic)
def release_item(item_id: uuid.UUID, context: ConsoleContextDep, db: DbSession) -> ActionPublic:
    """Give a claimed conversation back to the queue."""
    result = claims.release(db, agent=context.agent, item_id=item_id)
    return _finish(db, context, verb="release", item_id=item_id, result=result)


@api.post("/queue/{item_id}/resolve", response_model=ActionPublic)
def resolve_item(
    item_id: uuid.UUID,
    body: ResolveRequest,
    settings: AppSettingsDep,
    context: ConsoleContextDep,
    db: DbSession,
) -> ActionPublic:
    """Close the item with an outcome tag; `return_to_bot` hands the conversation back."""
    result = claims.resolve(db, agent=context.agent, item_id=item_id, outcome=body.outcome)
    if result == "ok":
        after_resolve(db, routing=Routing.from_settings(settings), item_id=item_id)
    detail = {"outcome": body.outcome} | ({"note": body.note} if body.note else {})
    return _finish(db, context, verb="resolve", item_id=item_id, result=result, detail=detail)


@api.post("/queue/{item_id}/assign", response_model=ActionPublic)
def assign_item(
    item_id: uuid.UUID, body: AssignRequest, context: ConsoleContextDep, db: DbSession
) -> ActionPublic:
    """A supervisor or admin makes an agent of the item's brand its owner."""
    to = db.get(Agent, body.agent_id)
    if to is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such agent")
    if not claims.manages(context.agent):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="supervisors and admins assign")
    result = claims.assign(db, by=context.agent, to=to, item_id=item_id)
    return _finish(db, context, verb="assign", item_id=item_id, result=result)


@api.post("/queue/{item_id}/transfer", response_model=ActionPublic)
def transfer_item(
    item_id: uuid.UUID, body: TransferRequest, context: ConsoleContextDep, db: DbSession
) -> ActionPublic:
    """Hand an owned item to another agent or back to a team's queue."""
    if (body.agent_id is None) == (body.team is None):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail="give exactly one of agent_id and team"
        )
    to = db.get(Agent, body.agent_id) if body.agent_id is not None else None
    if body.agent_id is not None and to is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such agent")
    result = claims.transfer(db, agent=context.agent, item_id=item_id, to=to, team=body.team)
    return _finish(db, context, verb="transfer", item_id=item_id, result=result)


@api.post("/queue/{item_id}/snooze", response_model=ActionPublic)
def snooze_item(
    item_id: uuid.UUID, body: SnoozeRequest, context: ConsoleContextDep, db: DbSession
) -> ActionPublic:
    """Put the item aside for `minutes` (its owner keeps it)."""
    until = now() + timedelta(minutes=body.minutes)
    result = claims.snooze(db, agent=context.agent, item_id=item_id, until=until)
    return _finish(db, context, verb="snooze", item_id=item_id, result=result)


router.include_router(api)  # after every route of `api` is declared
