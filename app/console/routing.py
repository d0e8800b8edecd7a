"""Routing in the console: an agent says whether they are online (the header's toggle)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.api.deps import RuntimeDep
from app.console.actions import flash
from app.console.deps import DbSession, PageContextDep
from app.console.templating import render
from app.handoff.agents import AgentError
from app.handoff.routing import Routing, fill, parse_availability, set_availability
from app.storage.tables import Agent

router = APIRouter(prefix="/console", include_in_schema=False)


@router.post("/availability/{state}")
def set_own_availability(
    request: Request, state: str, runtime: RuntimeDep, console: PageContextDep, db: DbSession
) -> Response:
    """Go online (and be given waiting items at once, up to capacity) or away."""
    try:
        availability = parse_availability(state)
    except AgentError as exc:
        console.audit(db, "agent.availability_refused", console.agent.email, error=str(exc))
        return flash(request, "Availability is either online or away.")
    me = db.get(Agent, console.agent.id)
    assert me is not None  # the session that let this request in belongs to them
    set_availability(db, agent=me, availability=availability)
    given = []
    if availability == "online":
        given = fill(db, routing=Routing.from_settings(runtime.settings), agent=me)
    console.audit(db, "agent.availability", me.email, availability=availability, given=len(given))
    return render(
        request,
        "partials/availability.html",
        {"console": console, "agent": me},
        headers={"HX-Trigger": "refresh"},
    )
