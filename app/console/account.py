"""The signed-in agent's own account: change their password.

A wrong current password counts as a failed sign-in (`login.failed`), so guessing it from a
stolen session meets the same rate limit as guessing at the sign-in page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from app.console import sign_in_limits
from app.console.auth import LOGIN_FAILED
from app.console.deps import ConsoleContext, DbSession, PageContextDep
from app.console.templating import render, sentence
from app.handoff.agents import MIN_PASSWORD_LENGTH, AgentError, authenticate, set_password

router = APIRouter(prefix="/console", include_in_schema=False)


def _panel(
    request: Request,
    console: ConsoleContext,
    *,
    error: str | None = None,
    notice: str | None = None,
    template: str = "partials/account_panel.html",
) -> Response:
    context = {
        "console": console,
        "section": "account",
        "error": error,
        "notice": notice,
        "min_password": MIN_PASSWORD_LENGTH,
    }
    return render(request, template, context)


@router.get("/account")
def account_page(request: Request, console: PageContextDep) -> Response:
    """Who is signed in, and a form to change the password."""
    return _panel(request, console, template="account.html")


@router.post("/account/password")
def change_password(
    request: Request,
    console: PageContextDep,
    db: DbSession,
    current: Annotated[str, Form(max_length=1024)] = "",
    new: Annotated[str, Form(max_length=1024)] = "",
    confirm: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Change one's own password; every other session of this agent ends."""
    email = console.agent.email
    reservation = sign_in_limits.reserve(db, email=email, ip=console.ip)
    if reservation.retry_after is not None:
        console.audit(db, "agent.password_change_refused", email, error="rate limited")
        return _panel(request, console, error="Too many wrong passwords: wait a while.")
    if authenticate(db, email=email, password=current) is None:
        console.audit(db, LOGIN_FAILED, email, during="password change")
        return _panel(request, console, error="Your current password is not right.")
    sign_in_limits.release(db, reservation)
    db.commit()
    if new != confirm:
        return _panel(request, console, error="The new password and its repetition differ.")
    try:
        set_password(db, email=email, password=new, keep_session=console.session.id)
    except AgentError as exc:
        console.audit(db, "agent.password_change_refused", email, error=str(exc))
        return _panel(request, console, error=sentence(exc))
    console.audit(db, "agent.password_changed", email)
    return _panel(request, console, notice="Password changed: your other sessions have ended.")
