"""Jinja2 for the console: autoescaping on, and the filters its templates share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.responses import Response

from app.compliance.segments import MAX_TEXT_CHARS, count_segments
from app.pipeline.decision import Reason
from app.storage.messages import now

STATIC_DIR = Path(__file__).parent / "static"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def duration(value: timedelta | float | None) -> str:
    """`3 h 05 min`, `4 min`, `12 s`: a wait or a response time as people read it."""
    if value is None:
        return "–"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{sign}{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{sign}{hours} h {minutes:02d} min"
    return f"{sign}{hours // 24} d {hours % 24} h"


def since(value: datetime | None) -> str:
    """How long ago, e.g. `4 min`."""
    return duration(now() - value) if value is not None else "–"


@lru_cache(maxsize=16)
def business_zone(name: str) -> ZoneInfo:
    """The zone of `SMSDESK_BUSINESS_TIMEZONE` (cached: every time on a page asks)."""
    return ZoneInfo(name)  # the setting was checked at start-up (the SLA clock validates it)


def business_time(value: datetime, timezone: str) -> str:
    """An instant on the business's clock as text: `2026-11-24 12:05 EST`."""
    return f"{value.astimezone(business_zone(timezone)):%Y-%m-%d %H:%M %Z}"


def utc_time(value: datetime) -> str:
    """The same instant in UTC: `2026-11-24 17:05 UTC`."""
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


@pass_context
def clock(context: Context, value: datetime | None, text: bool = False) -> Markup | str:
    """Every instant the console shows: in the business's time zone (`SMSDESK_BUSINESS_TIMEZONE`),
    as a `<time>` whose title is the UTC time (hover), and whose `datetime` is UTC ISO 8601.
    `text=True` gives the plain text, for places markup cannot go (an attribute)."""
    if value is None:
        return "–"
    settings = context.get("settings")
    shown = business_time(value, settings.business_timezone if settings else "UTC")
    if text:
        return shown
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        value.astimezone(UTC).isoformat(), utc_time(value), shown
    )


def local_time(value: str | None) -> str:
    """`2026-07-15T08:00:00-04:00` -> `Wed 15 Jul, 08:00 (UTC-04:00)`: the customer's clock."""
    if not value:
        return "–"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    offset = moment.strftime("%z")
    zone = f" (UTC{offset[:3]}:{offset[3:]})" if offset else ""
    return f"{moment:%a %d %b, %H:%M}{zone}"


def iso(value: datetime | None) -> str:
    """An instant for a `<time datetime>` attribute."""
    return value.isoformat() if value is not None else ""


AUTHORS = {
    "reply": "bot",
    "clarify": "bot",
    "close": "bot",
    "handoff_ack": "bot: a person will reply",
    "safety": "bot: safety text",
    "agent": "agent",
    "api": "API",
    "flow": "flow",
}
"""Who wrote an outbound text, by its purpose (the rest are the compliance layer's replies)."""


def author(purpose: str | None) -> str:
    """`bot`, `agent`, `API`, or the compliance reply's name (`confirmation`, ...)."""
    return AUTHORS.get(purpose or "", reason_label(purpose or ""))


def sentence(error: Exception) -> str:
    """`the password must be ...` as a page says it: `The password must be ....`"""
    reason = str(error)
    return reason[:1].upper() + reason[1:] + "."


def segment_label(text: str) -> str:
    """`42 chars · GSM-7 · 1 segment`: what the text will cost, as the composer shows it."""
    size = count_segments(text)
    unit = "segment" if size.segments == 1 else "segments"
    left = size.per_segment * size.segments - size.units
    return f"{len(text)} chars · {size.encoding} · {size.segments} {unit} · {left} left"


def segment_count(text: str) -> int:
    """How many SMS segments `text` is sent as."""
    return count_segments(text).segments


def reason_label(reason: str) -> str:
    """A stored reason as people read it (`asked_for_person` -> `asked for a person`)."""
    parsed = Reason.parse(reason)
    return parsed.label if parsed is not None else reason.replace("_", " ")


def paragraphs(text: str | None) -> list[str]:
    """A Markdown body as its paragraphs: a blank line separates them, and a single line
    break inside one is only the file's wrapping (a reader sees one flowing paragraph)."""
    blocks = (text or "").replace("\r\n", "\n").split("\n\n")
    return [" ".join(line.strip() for line in b.splitlines()) for b in blocks if b.strip()]


_FILTERS: dict[str, Any] = {
    "duration": duration,
    "since": since,
    "clock": clock,
    "iso": iso,
    "local_time": local_time,
    "segments": segment_label,
    "segment_count": segment_count,
    "reason": reason_label,
    "author": author,
    "paragraphs": paragraphs,
}
templates.env.filters.update(_FILTERS)
templates.env.globals["max_text_chars"] = MAX_TEXT_CHARS


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A console template with what every page needs: the agent, the CSRF token, settings.

    Callers put the signed-in `ConsoleContext` in `context["console"]` (None on public pages).
    """
    values = dict(context or {})
    console = values.get("console")
    settings = request.app.state.runtime.settings
    values.setdefault("agent", console.agent if console else None)
    values.setdefault("csrf_token", console.session.csrf_token if console else None)
    values.setdefault("simulator_enabled", bool(settings.simulator))
    values.setdefault("settings", settings)
    return templates.TemplateResponse(
        request, name, values, status_code=status_code, headers=headers
    )
