"""`smsdesk agents add|list|update|capacity|disable|enable|password`: console agent accounts,
kept by an admin."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

import typer
from sqlmodel import Session

from app.cli_output import fail
from app.config import get_settings
from app.handoff.agents import (
    AgentError,
    audit,
    create_agent,
    disable_agent,
    enable_agent,
    find_agent,
    list_agents,
    normalise_email,
    set_password,
    update_agent,
)
from app.handoff.routing import parse_capacity, set_capacity
from app.handoff.scopes import brand_label, check_brands, check_team, known_brands, known_teams
from app.storage import open_database
from app.storage.tables import Agent

agents_app = typer.Typer(
    help="Console agent accounts: add, list, update, disable, enable, set a password.",
    no_args_is_help=True,
)


class RoleOption(StrEnum):
    agent = "agent"
    supervisor = "supervisor"
    admin = "admin"


def _session() -> Session:
    return Session(open_database(get_settings().db_url), expire_on_commit=False)


def _read_password(password_stdin: bool) -> str:
    if not password_stdin:
        fail("pass the password on standard input with --password-stdin")
    return sys.stdin.readline().rstrip("\r\n")


PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


@agents_app.command("add")
def add_command(
    email: Annotated[str, typer.Argument(help="The agent's email address (their login).")],
    role: Annotated[RoleOption, typer.Option(help="What the agent may do.")] = RoleOption.agent,
    name: Annotated[str | None, typer.Option(help="Display name (default: from email).")] = None,
    brand: Annotated[
        list[str] | None,
        typer.Option(
            help="A brand id the agent may see; repeat for more (default SMSDESK_BRAND_ID; "
            "`agents brands` lists them)."
        ),
    ] = None,
    team: Annotated[
        str | None,
        typer.Option(help="The team whose queue the agent works (`agents teams` lists them)."),
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create an agent account; the password is read from standard input, never an argument."""
    settings = get_settings()
    with _session() as session:
        brands = known_brands(session, settings)
        try:
            # Checked before the password is read: a typo is reported without it.
            check_brands(brand or [], brands)
            check_team(team, known_teams(settings.knowledge_dir))
        except AgentError as exc:
            fail(str(exc))
        password = _read_password(password_stdin)
        try:
            agent = create_agent(
                session,
                email=email,
                password=password,
                role=role.value,
                display_name=name,
                brands=brand or [settings.brand_id],
                team=team,
            )
        except AgentError as exc:
            fail(str(exc))
        audit(session, action="agent.created", target=agent.email, detail={"by": "cli"})
        session.commit()
    typer.echo(f"added {agent.role} {agent.email} (brands: {_labels(agent.brands, brands)})")


def _labels(chosen: list[str], brands: dict[str, str]) -> str:
    return ", ".join(brand_label(b, brands) for b in chosen) or "-"


@agents_app.command("brands")
def brands_command() -> None:
    """List the brand ids an agent can be given (`--brand`), with their display names."""
    settings = get_settings()
    with _session() as session:
        brands = known_brands(session, settings)
    for brand, name in brands.items():
        typer.echo(f"{brand}\t{name}")


@agents_app.command("teams")
def teams_command() -> None:
    """List the teams an agent can be put on (`--team`): the knowledge base's intents.yaml."""
    teams = known_teams(get_settings().knowledge_dir)
    if not teams:
        typer.echo("no teams: name them under `teams:` in the knowledge base's intents.yaml")
    for team, description in teams.items():
        typer.echo(f"{team}\t{description}")


@agents_app.command("list")
def list_command() -> None:
    """List every agent account: email, role, active, brands, last login."""
    with _session() as session:
        agents = list_agents(session)
        brands = known_brands(session, get_settings())
    if not agents:
        typer.echo("no agents yet: smsdesk agents add EMAIL --role admin --password-stdin")
        return
    for agent in agents:
        last = agent.last_login_at.isoformat(timespec="seconds") if agent.last_login_at else "-"
        state = "active" if agent.active else "disabled"
        capacity = agent.capacity if agent.capacity is not None else "default"
        typer.echo(
            f"{agent.email}\t{agent.role}\t{state}\t{_labels(agent.brands, brands)}"
            f"\t{agent.display_name}\tlast login {last}\t{agent.availability}"
            f"\tcapacity {capacity}"
        )


@agents_app.command("update")
def update_command(
    email: Annotated[str, typer.Argument(help="The agent's email address.")],
    role: Annotated[RoleOption | None, typer.Option(help="A new role.")] = None,
    name: Annotated[str | None, typer.Option(help="A new display name.")] = None,
    brand: Annotated[
        list[str] | None,
        typer.Option(help="The brands the agent may see (replaces them); repeat for more."),
    ] = None,
    team: Annotated[
        str | None, typer.Option(help="A new team; an empty string takes them off their team.")
    ] = None,
) -> None:
    """Change an agent's role, name, brands or team; what is not given stays as it is."""

    settings = get_settings()

    def change(session: Session) -> Agent:
        current = find_agent(session, email=email)
        if current is None:
            raise AgentError(f"no agent with email {normalise_email(email)}")
        check_brands(brand or [], known_brands(session, settings), kept=current.brands)
        if team:
            check_team(team.strip(), known_teams(settings.knowledge_dir), kept=current.team)
        return update_agent(
            session,
            email=email,
            role=role.value if role is not None else current.role,
            display_name=name if name is not None else current.display_name,
            brands=brand if brand else current.brands,
            team=(team.strip() or None) if team is not None else current.team,
        )

    agent = _change(email, "agent.edited", change)
    with _session() as session:
        labels = _labels(agent.brands, known_brands(session, settings))
    typer.echo(f"updated {agent.email}: {agent.role}, brands {labels}, team {agent.team or '-'}")


@agents_app.command("capacity")
def capacity_command(
    email: Annotated[str, typer.Argument(help="The agent's email address.")],
    capacity: Annotated[
        str, typer.Argument(help="Claimed items auto-assignment lets them hold, or `default`.")
    ],
) -> None:
    """Set how many claimed items an agent holds before auto-assignment passes them by."""
    settings = get_settings()

    def change(session: Session) -> Agent:
        agent = find_agent(session, email=email)
        if agent is None:
            raise AgentError(f"no agent with email {normalise_email(email)}")
        set_capacity(session, agent=agent, capacity=parse_capacity(capacity))
        session.commit()
        session.refresh(agent)
        return agent

    agent = _change(email, "agent.capacity", change)
    shown = agent.capacity if agent.capacity is not None else f"{settings.agent_capacity} (default)"
    typer.echo(f"capacity of {agent.email}: {shown}")


@agents_app.command("disable")
def disable_command(
    email: Annotated[str, typer.Argument(help="The agent's email address.")],
) -> None:
    """Disable an agent account: they can no longer sign in and their sessions end."""
    agent = _change(email, "agent.disabled", lambda session: disable_agent(session, email=email))
    typer.echo(f"disabled {agent.email}")


@agents_app.command("enable")
def enable_command(
    email: Annotated[str, typer.Argument(help="The agent's email address.")],
) -> None:
    """Let a disabled agent sign in again."""
    agent = _change(email, "agent.enabled", lambda session: enable_agent(session, email=email))
    typer.echo(f"enabled {agent.email}")


@agents_app.command("password")
def password_command(
    email: Annotated[str, typer.Argument(help="The agent's email address.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a new password (read from standard input); the agent's sessions end."""
    password = _read_password(password_stdin)
    agent = _change(
        email,
        "agent.password_set",
        lambda session: set_password(session, email=email, password=password),
    )
    typer.echo(f"set a new password for {agent.email}: their sessions have ended")


def _change(email: str, action: str, change: Callable[[Session], Agent]) -> Agent:
    """Apply `change` to an existing account and audit it as `action`; exit 2 on AgentError."""
    with _session() as session:
        try:
            agent = change(session)
        except AgentError as exc:
            fail(str(exc))
        audit(session, action=action, agent_id=None, target=agent.email)
        session.commit()
    return agent
