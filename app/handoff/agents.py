"""Agent accounts (argon2 password hashes) and the append-only audit log of what agents do."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any, Literal, get_args

from pwdlib import PasswordHash
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from app.errors import InvalidInput
from app.storage.messages import now
from app.storage.tables import Agent, AgentSession, AuditEntry

Role = Literal["agent", "supervisor", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
MAX_BRAND_LENGTH = 64  # the brand column's width
MAX_TEAM_LENGTH = 64
MIN_PASSWORD_LENGTH = 12

_hasher = PasswordHash.recommended()


@cache
def _dummy_hash() -> str:
    # Verified against when the email is unknown: a wrong email costs as long as a wrong password.
    return _hasher.hash("smsdesk-no-such-agent-password")


class AgentError(InvalidInput):
    """An agent account cannot be created or changed as asked."""

    code = "agent_error"


def normalise_email(email: str) -> str:
    """The stored form of an email address: trimmed and lower-cased."""
    return email.strip().lower()


def create_agent(
    session: Session,
    *,
    email: str,
    password: str,
    role: str = "agent",
    display_name: str | None = None,
    brands: Sequence[str] = (),
    team: str | None = None,
) -> Agent:
    """Create and commit an agent account; AgentError for a duplicate, bad role or weak password."""
    address = normalise_email(email)
    if "@" not in address or len(address) > 254 or address.startswith("@"):
        raise AgentError(f"not an email address: {email!r}")
    _check_access(role, brands, team)
    _check_password(password)
    if find_agent(session, email=address) is not None:
        raise AgentError(f"an agent with email {address} already exists")
    agent = Agent(
        email=address,
        display_name=(display_name or address.split("@")[0]).strip()[:100],
        role=role,
        password_hash=_hasher.hash(password),
        brands=list(dict.fromkeys(brands)),
        team=team,
        created_at=now(),
    )
    session.add(agent)
    try:
        session.commit()
    except IntegrityError as exc:  # a concurrent `agents add` of the same address
        session.rollback()
        raise AgentError(f"an agent with email {address} already exists") from exc
    session.refresh(agent)
    return agent


def find_agent(session: Session, *, email: str) -> Agent | None:
    """The agent with this email (any case), or None."""
    return session.exec(select(Agent).where(Agent.email == normalise_email(email))).first()


def list_agents(session: Session) -> Sequence[Agent]:
    """Every agent account, oldest first."""
    return session.exec(select(Agent).order_by(col(Agent.created_at))).all()


def disable_agent(session: Session, *, email: str) -> Agent:
    """Mark the agent inactive and end their sessions (signed out at once); commit."""
    return _set_active(session, email=email, active=False)


def enable_agent(session: Session, *, email: str) -> Agent:
    """Let a disabled agent sign in again (old sessions stay ended) and commit."""
    return _set_active(session, email=email, active=True)


def set_password(
    session: Session, *, email: str, password: str, keep_session: int | None = None
) -> Agent:
    """Give the agent a new password and end their sessions (all but `keep_session`: the
    one an agent changing their own password is using); commit. AgentError when too weak."""
    agent = _existing(session, email)
    _check_password(password)
    agent.password_hash = _hasher.hash(password)
    session.add(agent)
    _end_sessions(session, agent, keep=keep_session)
    session.commit()
    session.refresh(agent)
    return agent


def update_agent(
    session: Session,
    *,
    email: str,
    role: str,
    display_name: str,
    brands: Sequence[str],
    team: str | None,
) -> Agent:
    """Change what an agent may see and do (and their name) and commit; they see the change
    on their next request. AgentError for a bad role, brand or team."""
    agent = _existing(session, email)
    _check_access(role, brands, team)
    agent.role = role
    agent.display_name = display_name.strip()[:100] or agent.display_name
    agent.brands = list(dict.fromkeys(brands))
    agent.team = team
    session.add(agent)
    session.commit()
    session.refresh(agent)
    return agent


def _check_access(role: str, brands: Sequence[str], team: str | None) -> None:
    if role not in ROLES:
        raise AgentError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if any(not b or len(b) > MAX_BRAND_LENGTH for b in brands):
        raise AgentError(f"a brand id must be 1 to {MAX_BRAND_LENGTH} characters long")
    if team is not None and not 0 < len(team) <= MAX_TEAM_LENGTH:
        raise AgentError(f"a team name must be 1 to {MAX_TEAM_LENGTH} characters long")


def _end_sessions(session: Session, agent: Agent, *, keep: int | None = None) -> None:
    ended = delete(AgentSession).where(col(AgentSession.agent_id) == agent.id)
    if keep is not None:
        ended = ended.where(col(AgentSession.id) != keep)
    session.exec(ended)


def _existing(session: Session, email: str) -> Agent:
    agent = find_agent(session, email=email)
    if agent is None:
        raise AgentError(f"no agent with email {normalise_email(email)}")
    return agent


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AgentError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")


def _set_active(session: Session, *, email: str, active: bool) -> Agent:
    agent = _existing(session, email)
    agent.active = active
    session.add(agent)
    if not active:  # ended, not merely refused: enabling the agent again must not revive them
        _end_sessions(session, agent)
    session.commit()
    session.refresh(agent)
    return agent


def authenticate(session: Session, *, email: str, password: str) -> Agent | None:
    """The active agent whose password this is, or None (same cost for an unknown email)."""
    agent = find_agent(session, email=email)
    if agent is None:
        _hasher.verify(password, _dummy_hash())
        return None
    valid, new_hash = _hasher.verify_and_update(password, agent.password_hash)
    if not valid or not agent.active:
        return None
    if new_hash is not None:  # the recommended parameters changed since this hash was made
        agent.password_hash = new_hash
        session.add(agent)
    return agent


def can_see_brand(agent: Agent, brand: str) -> bool:
    """Admins see every brand; everyone else only the brands they are assigned to."""
    return agent.role == "admin" or brand in agent.brands


def audit(
    session: Session,
    *,
    action: str,
    agent_id: uuid.UUID | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Append one entry to the audit log (in the caller's transaction)."""
    entry = AuditEntry(
        at=now(), agent_id=agent_id, action=action, target=target, detail=detail or {}, ip=ip
    )
    session.add(entry)
    return entry
