"""Console dependencies as `Annotated` aliases: the database session, the signed-in agent, CSRF."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlmodel import Session

from app.api.deps import RuntimeDep
from app.console.auth import CSRF_HEADER, SESSION_COOKIE, find_session
from app.handoff.agents import audit
from app.runtime import Runtime
from app.storage import reading
from app.storage.tables import Agent, AgentSession

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _db(request: Request, runtime: RuntimeDep) -> Iterator[Session]:
    # Page views and other safe requests only read: on SQLite they skip the writers' queue.
    safe = request.method in _SAFE_METHODS
    bind = reading(runtime.engine) if safe else runtime.engine
    with Session(bind, expire_on_commit=False) as session:
        yield session


DbSession = Annotated[Session, Depends(_db)]


@dataclass(frozen=True)
class ConsoleContext:
    """The signed-in agent, their session and where the request came from."""

    agent: Agent
    session: AgentSession
    ip: str | None

    def audit(self, db: Session, action: str, target: str, **detail: object) -> None:
        """Write what this agent did to the audit log, and commit with it."""
        audit(
            db,
            action=action,
            agent_id=self.agent.id,
            target=target[:254],
            detail=detail,
            ip=self.ip,
        )
        db.commit()

    def audit_queue(
        self, db: Session, verb: str, item_id: uuid.UUID, result: str, **detail: object
    ) -> None:
        """Audit a queue action, refused ones as `queue.<verb>_refused`."""
        action = f"queue.{verb}" if result == "ok" else f"queue.{verb}_refused"
        self.audit(db, action, str(item_id), result=result, **detail)


def client_ip(request: Request) -> str | None:
    """The client's address as the server sees it (set a trusted proxy's headers upstream)."""
    return request.client.host if request.client else None


def signed_in(runtime: Runtime, token: str) -> tuple[AgentSession, Agent] | None:
    """The agent session this cookie value opens, read on a short session of its own."""
    # A session of its own, closed before the route runs: holding the request's session
    # (and with it a pooled connection and, on SQLite, the write lock) from this threadpool
    # thread while the route waited for another thread deadlocked the server under 40
    # concurrent console requests. The rows come back detached, their columns loaded.
    with Session(reading(runtime.engine), expire_on_commit=False) as session:
        return find_session(session, token=token)


def _console_context(request: Request, runtime: RuntimeDep) -> ConsoleContext:
    """A valid session cookie (else 401) and, for a state-changing request, its CSRF token
    in the X-CSRF-Token header (else 403)."""
    token = request.cookies.get(SESSION_COOKIE)
    found = signed_in(runtime, token) if token else None
    if found is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="sign in to the console first")
    agent_session, agent = found
    if request.method not in _SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER, "").encode()
        if not given or not hmac.compare_digest(given, agent_session.csrf_token.encode()):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail=f"missing or wrong {CSRF_HEADER} header"
            )
    return ConsoleContext(agent=agent, session=agent_session, ip=client_ip(request))


def _current_agent(context: Annotated[ConsoleContext, Depends(_console_context)]) -> Agent:
    return context.agent


class LoginRequired(Exception):
    """A page was asked for without a session: the browser is sent to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def _page_context(request: Request, runtime: RuntimeDep) -> ConsoleContext:
    """`_console_context` for pages: no session redirects to sign-in instead of a 401."""
    try:
        return _console_context(request, runtime)
    except HTTPException as exc:
        if exc.status_code == status.HTTP_401_UNAUTHORIZED:
            raise LoginRequired(request.url.path) from None
        raise


ConsoleContextDep = Annotated[ConsoleContext, Depends(_console_context)]
PageContextDep = Annotated[ConsoleContext, Depends(_page_context)]
CurrentAgent = Annotated[Agent, Depends(_current_agent)]
RequireSession = Depends(_console_context)
