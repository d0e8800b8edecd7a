"""The queue page's URL: its view, search, filters and page, read and checked in one place and
written back for the tabs, the live refresh, paging and the conversation opened from it.

Everything lives in the query string, so a filtered queue can be bookmarked and the live
refresh asks for the same filter. A bad value is a QueueQueryError naming what is wrong.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from urllib.parse import parse_qsl, urlencode, urlsplit

from sqlmodel import Session, col, select

from app.config import Settings
from app.console.templating import business_zone
from app.console.views import QUEUE_PAGE
from app.errors import InvalidInput
from app.handoff.agents import can_see_brand
from app.handoff.claims import QUEUE_VIEWS, QueueView
from app.handoff.search import ITEM_STATES, MAX_SEARCH_CHARS, ItemState, QueueFilter, Search
from app.pipeline.decision import Reason
from app.storage.tables import Agent

MAX_PAGE = 1000
MIN_SEARCH_CHARS = 2
CARRIED = ("q", "reason", "team", "from", "to")
"""What a conversation opened from the queue keeps, to find the next item after a resolve."""
_ORDER = ("view", "q", "reason", "team", "status", "agent", "from", "to", "page")


class QueueQueryError(InvalidInput):
    """A search or filter of the queue that cannot be applied."""

    code = "invalid_queue_filter"


@dataclass(frozen=True)
class FilterChoices:
    """What the filters may be set to for one agent: the form's options and the checks."""

    teams: Sequence[str]
    agents: Sequence[Agent]
    region: str
    timezone: tzinfo = UTC
    """The day boundaries of the date filter: the business's time zone, as the console shows
    every time in it (`filter_choices` sets it from SMSDESK_BUSINESS_TIMEZONE)."""


def filter_choices(
    session: Session, *, agent: Agent, settings: Settings, teams: Sequence[str]
) -> FilterChoices:
    """The teams and the agents (those who work on one of the agent's brands) to filter by."""
    everyone = session.exec(select(Agent).order_by(col(Agent.display_name))).all()
    if agent.role != "admin":
        everyone = [a for a in everyone if any(can_see_brand(a, b) for b in agent.brands)]
    return FilterChoices(
        teams=teams,
        agents=list(everyone),
        region=settings.phone_region,
        timezone=business_zone(settings.business_timezone),
    )


@dataclass(frozen=True)
class QueueQuery:
    """One queue page as its URL asks for it."""

    view: QueueView = "open"
    where: QueueFilter = field(default_factory=QueueFilter)
    page: int = 1
    given: Mapping[str, str] = field(default_factory=dict)
    """The parameters as they apply, tidied (the form shows them; links repeat them)."""

    @property
    def offset(self) -> int:
        """Rows of the view before this page."""
        return (self.page - 1) * QUEUE_PAGE

    def query(self, **changes: str | int | None) -> str:
        """This page's query string with `changes` (None or "" leaves a parameter out)."""
        values: dict[str, str | int | None] = {**self.given, **changes}
        return urlencode([(k, values[k]) for k in _ORDER if values.get(k) not in (None, "")])

    def carried(self) -> str:
        """The query string a conversation opened from this page keeps (see CARRIED)."""
        return urlencode([(k, self.given[k]) for k in CARRIED if self.given.get(k)])


def parse_queue_query(params: Mapping[str, str], *, choices: FilterChoices) -> QueueQuery:
    """The page `params` ask for; QueueQueryError naming the first bad value."""
    given = {k: " ".join(str(params.get(k, "")).split()) for k in _ORDER}
    given = {k: v for k, v in given.items() if v}
    view = given.get("view", "open")
    if view not in QUEUE_VIEWS:
        raise QueueQueryError(f"there is no {view!r} tab; the tabs are {', '.join(QUEUE_VIEWS)}")
    first, last = _date(given.get("from"), "from"), _date(given.get("to"), "to")
    if first is not None and last is not None and last < first:
        raise QueueQueryError("the 'to' date is before the 'from' date")
    where = QueueFilter(
        search=_search(given.get("q"), choices),
        reason=_reason(given.get("reason")),
        team=_team(given.get("team"), choices),
        state=_state(given.get("status")),
        agent_id=_agent(given.get("agent"), choices),
        created_from=_start_of(first, choices.timezone),
        created_before=_start_of(last + timedelta(days=1) if last else None, choices.timezone),
    )
    return QueueQuery(view=view, where=where, page=_page(given.get("page")), given=given)


def carried_from(url: str, *, choices: FilterChoices) -> QueueFilter:
    """The filter a page's URL carries (a conversation opened from a filtered queue); none
    when it carries nothing usable."""
    try:
        query = parse_queue_query(_pairs(urlsplit(url).query), choices=choices)
    except QueueQueryError:
        return QueueFilter()
    return query.where.for_next_item()


def carried_query(url: str, *, choices: FilterChoices) -> str:
    """The CARRIED part of a page URL's query string, checked and tidied ("" for none)."""
    try:
        return parse_queue_query(_pairs(urlsplit(url).query), choices=choices).carried()
    except QueueQueryError:
        return ""


def _pairs(query: str) -> dict[str, str]:
    return dict(parse_qsl(query))


def _search(text: str | None, choices: FilterChoices) -> Search | None:
    if text is None:
        return None
    if len(text) > MAX_SEARCH_CHARS:
        raise QueueQueryError(f"the search is longer than {MAX_SEARCH_CHARS} characters")
    if len(text) < MIN_SEARCH_CHARS:
        raise QueueQueryError(f"search for at least {MIN_SEARCH_CHARS} characters")
    return Search.of(text, region=choices.region)


def _reason(value: str | None) -> Reason | None:
    if value is None:
        return None
    reason = Reason.parse(value)
    if reason is None:
        raise QueueQueryError(f"there is no reason {value[:40]!r}")
    return reason


def _team(value: str | None, choices: FilterChoices) -> str | None:
    if value is None or value in choices.teams:
        return value
    teams = ", ".join(choices.teams) or "none"
    raise QueueQueryError(f"there is no team {value[:40]!r}; the teams are: {teams}")


def _state(value: str | None) -> ItemState | None:
    if value is None:
        return None
    if value not in ITEM_STATES:
        raise QueueQueryError(
            f"there is no status {value[:40]!r}; the statuses are {', '.join(ITEM_STATES)}"
        )
    return value


def _agent(value: str | None, choices: FilterChoices) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        wanted = uuid.UUID(value)
    except ValueError:
        wanted = None
    if wanted is None or all(a.id != wanted for a in choices.agents):
        raise QueueQueryError("no such agent to filter by (choose one from the list)")
    return wanted


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise QueueQueryError(
            f"the {name!r} date {value[:40]!r} is not a date like 2026-12-04"
        ) from None


def _start_of(day: date | None, zone: tzinfo) -> datetime | None:
    # Midnight on the day in the console's time zone, as a UTC instant.
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC) if day else None


def _page(value: str | None) -> int:
    if value is None:
        return 1
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise QueueQueryError(f"the page must be a number from 1 to {MAX_PAGE}")
    return int(value)
