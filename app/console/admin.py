"""Admin pages: agent accounts (list, add, edit, disable, enable, set a password), all audited.

The form and the disable buttons post with htmx (the CSRF header rides along); the answer is
the re-rendered panel, with what happened or why not (200 either way: htmx does not swap error
statuses, and the refused attempt is in the audit log).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import Response
from sqlmodel import Session

from app.api.deps import RuntimeDep
from app.console.deps import ConsoleContext, DbSession, PageContextDep
from app.console.templating import render, sentence
from app.handoff.agents import (
    MIN_PASSWORD_LENGTH,
    ROLES,
    AgentError,
    create_agent,
    disable_agent,
    enable_agent,
    list_agents,
    set_password,
    update_agent,
)
from app.handoff.routing import Routing, fill, parse_capacity, set_capacity
from app.handoff.scopes import check_brands, check_team, known_brands, known_teams
from app.storage.tables import Agent

router = APIRouter(prefix="/console", include_in_schema=False)


def require_admin(agent: Agent) -> None:
    """Admins only (403 for everyone else)."""
    if agent.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="admins only")


@dataclass(frozen=True)
class AgentForm:
    """What was typed into the add-agent form (never the password), to show it again."""

    email: str = ""
    display_name: str = ""
    role: str = "agent"
    brands: str = ""
    team: str = ""


def parse_brands(text: str) -> list[str]:
    """`acme, beta,,acme` -> `["acme", "beta"]`."""
    return list(dict.fromkeys(b.strip() for b in text.split(",") if b.strip()))


def _panel(
    request: Request,
    console: ConsoleContext,
    db: Session,
    *,
    form: AgentForm | None = None,
    error: str | None = None,
    notice: str | None = None,
    template: str = "partials/agents_panel.html",
) -> Response:
    settings = request.app.state.runtime.settings
    return render(
        request,
        template,
        {
            "console": console,
            "section": "agents",
            "agents": list_agents(db),
            "roles": ROLES,
            "form": form or AgentForm(),
            "error": error,
            "notice": notice,
            "min_password": MIN_PASSWORD_LENGTH,
            # What the brand and team fields accept, with names (the form offers them).
            "brand_names": known_brands(db, settings),
            "team_names": known_teams(settings.knowledge_dir),
        },
    )


def _no_such_agent(
    request: Request, console: ConsoleContext, db: Session, agent_id: uuid.UUID, action: str
) -> Response:
    console.audit(db, action, str(agent_id), error="no such agent")
    return _panel(request, console, db, error="There is no such agent.")


@router.get("/agents")
def agents_page(request: Request, console: PageContextDep, db: DbSession) -> Response:
    """Every agent account, a form to add one and a button to disable each."""
    require_admin(console.agent)
    return _panel(request, console, db, template="agents.html")


@router.post("/agents")
def add_agent(
    request: Request,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    email: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "agent",
    brands: Annotated[str, Form()] = "",
    team: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    """Create an agent account (brands default to this deployment's brand, like the CLI)."""
    require_admin(console.agent)
    form = AgentForm(email, display_name, role, brands, team)
    chosen = parse_brands(brands) or [runtime.settings.brand_id]
    team_name = team.strip() or None
    try:
        check_brands(chosen, known_brands(db, runtime.settings))
        check_team(team_name, known_teams(runtime.settings.knowledge_dir))
        agent = create_agent(
            db,
            email=email,
            password=password,
            role=role,
            display_name=display_name.strip() or None,
            brands=chosen,
            team=team_name,
        )
    except AgentError as exc:
        console.audit(db, "agent.create_refused", email.strip().lower(), error=str(exc))
        return _panel(request, console, db, form=form, error=sentence(exc))
    console.audit(
        db,
        "agent.created",
        agent.email,
        role=agent.role,
        brands=agent.brands,
        team=agent.team,
    )
    return _panel(request, console, db, notice=f"Added {agent.role} {agent.email}.")


@router.post("/agents/{agent_id}/edit")
def edit_agent(
    request: Request,
    agent_id: uuid.UUID,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    display_name: Annotated[str, Form(max_length=100)] = "",
    role: Annotated[str, Form(max_length=20)] = "agent",
    brands: Annotated[str, Form(max_length=2000)] = "",
    team: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Change an agent's name, role, brands and team (brands default as when adding)."""
    require_admin(console.agent)
    target = db.get(Agent, agent_id)
    if target is None:
        return _no_such_agent(request, console, db, agent_id, "agent.edit_refused")
    if target.id == console.agent.id and role != target.role:
        console.audit(db, "agent.edit_refused", target.email, error="own role")
        return _panel(request, console, db, error="You cannot change your own role.")
    chosen = parse_brands(brands) or [runtime.settings.brand_id]
    team_name = team.strip() or None
    try:
        check_brands(chosen, known_brands(db, runtime.settings), kept=target.brands)
        check_team(team_name, known_teams(runtime.settings.knowledge_dir), kept=target.team)
        edited = update_agent(
            db,
            email=target.email,
            role=role,
            display_name=display_name,
            brands=chosen,
            team=team_name,
        )
    except AgentError as exc:
        console.audit(db, "agent.edit_refused", target.email, error=str(exc))
        return _panel(request, console, db, error=sentence(exc))
    console.audit(
        db, "agent.edited", edited.email, role=edited.role, brands=edited.brands, team=edited.team
    )
    return _panel(request, console, db, notice=f"Saved {edited.email}.")


@router.post("/agents/{agent_id}/disable")
def disable_agent_action(
    request: Request, agent_id: uuid.UUID, console: PageContextDep, db: DbSession
) -> Response:
    """Disable an agent: they cannot sign in any more and their sessions stop working."""
    require_admin(console.agent)
    target = db.get(Agent, agent_id)
    if target is None:
        return _no_such_agent(request, console, db, agent_id, "agent.disable_refused")
    if target.id == console.agent.id:
        console.audit(db, "agent.disable_refused", target.email, error="own account")
        return _panel(request, console, db, error="You cannot disable your own account.")
    if not target.active:
        return _panel(request, console, db, notice=f"{target.email} is already disabled.")
    disabled = disable_agent(db, email=target.email)
    console.audit(db, "agent.disabled", disabled.email)
    return _panel(request, console, db, notice=f"Disabled {disabled.email}: signed out at once.")


@router.post("/agents/{agent_id}/enable")
def enable_agent_action(
    request: Request, agent_id: uuid.UUID, console: PageContextDep, db: DbSession
) -> Response:
    """Let a disabled agent sign in again."""
    require_admin(console.agent)
    target = db.get(Agent, agent_id)
    if target is None:
        return _no_such_agent(request, console, db, agent_id, "agent.enable_refused")
    if target.active:
        return _panel(request, console, db, notice=f"{target.email} is already active.")
    enabled = enable_agent(db, email=target.email)
    console.audit(db, "agent.enabled", enabled.email)
    return _panel(request, console, db, notice=f"Enabled {enabled.email}: they can sign in again.")


@router.post("/agents/{agent_id}/password")
def set_password_action(
    request: Request,
    agent_id: uuid.UUID,
    console: PageContextDep,
    db: DbSession,
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Set an agent's password: their sessions end (an admin's own, except this one)."""
    require_admin(console.agent)
    target = db.get(Agent, agent_id)
    if target is None:
        return _no_such_agent(request, console, db, agent_id, "agent.password_refused")
    own = target.id == console.agent.id
    try:
        set_password(
            db,
            email=target.email,
            password=password,
            keep_session=console.session.id if own else None,
        )
    except AgentError as exc:
        console.audit(db, "agent.password_refused", target.email, error=str(exc))
        return _panel(request, console, db, error=sentence(exc))
    console.audit(db, "agent.password_set", target.email)
    ended = "your other sessions have ended" if own else "their sessions have ended"
    return _panel(request, console, db, notice=f"New password set for {target.email}: {ended}.")


@router.post("/agents/{agent_id}/capacity")
def set_capacity_action(
    request: Request,
    agent_id: uuid.UUID,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    capacity: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Set how many claimed items auto-assignment lets an agent hold (empty: the default)."""
    require_admin(console.agent)
    target = db.get(Agent, agent_id)
    if target is None:
        return _no_such_agent(request, console, db, agent_id, "agent.capacity_refused")
    try:
        set_capacity(db, agent=target, capacity=parse_capacity(capacity))
    except AgentError as exc:
        db.rollback()
        console.audit(db, "agent.capacity_refused", target.email, error=str(exc))
        return _panel(request, console, db, error=sentence(exc))
    routing = Routing.from_settings(runtime.settings)
    fill(db, routing=routing, agent=target)  # more room: waiting items may go to them now
    console.audit(db, "agent.capacity", target.email, capacity=target.capacity)
    shown = (
        target.capacity
        if target.capacity is not None
        else f"the default, {routing.default_capacity}"
    )
    return _panel(request, console, db, notice=f"Capacity of {target.email}: {shown}.")
