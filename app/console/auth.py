"""Console sessions (random tokens, stored hashed) and the sign-in rate limit."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, select

from app.storage.messages import now
from app.storage.tables import Agent, AgentSession

SESSION_COOKIE = "smsdesk_console"
SESSION_TTL = timedelta(hours=12)
CSRF_HEADER = "X-CSRF-Token"

# A failed password check (the limits that bound them live in `sign_in_limits`).
LOGIN_FAILED = "login.failed"


@dataclass(frozen=True)
class StartedSession:
    """What the browser gets: the cookie's token (never stored) and the CSRF token."""

    token: str
    csrf_token: str
    expires_at: datetime


def hash_token(token: str) -> str:
    """The stored form of a session token (a leaked table yields no usable cookie)."""
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, *, agent: Agent, ip: str | None) -> StartedSession:
    """Open a session for the agent (in the caller's transaction) and record the sign-in."""
    token = secrets.token_urlsafe(32)
    started = StartedSession(
        token=token, csrf_token=secrets.token_urlsafe(32), expires_at=now() + SESSION_TTL
    )
    session.add(
        AgentSession(
            token_hash=hash_token(token),
            agent_id=agent.id,
            csrf_token=started.csrf_token,
            created_at=now(),
            expires_at=started.expires_at,
            ip=ip,
        )
    )
    agent.last_login_at = now()
    session.add(agent)
    return started


def find_session(session: Session, *, token: str) -> tuple[AgentSession, Agent] | None:
    """The unexpired session of an active agent that this token opens, or None."""
    row = session.exec(
        select(AgentSession, Agent)
        .join(Agent, col(Agent.id) == col(AgentSession.agent_id))
        .where(AgentSession.token_hash == hash_token(token))
        .where(col(AgentSession.expires_at) > now())
        .where(col(Agent.active).is_(True))
    ).first()
    return (row[0], row[1]) if row else None


def end_session(session: Session, *, session_id: int) -> None:
    """Delete the session (in the caller's transaction): its cookie opens nothing any more."""
    session.exec(delete(AgentSession).where(col(AgentSession.id) == session_id))
