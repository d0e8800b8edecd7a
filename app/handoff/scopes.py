"""The brands and teams an agent can be given: the ones this deployment knows.

An unknown brand or team used to be stored as typed: the README's own `--brand acme` made an
agent who saw nothing (the brand id is `default`), silently. The CLI and the admin page now
check what they are given against these lists and name the valid values when refusing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import lru_cache
from pathlib import Path

from sqlmodel import Session, select

from app.ai.knowledge import INTENTS_FILE, KnowledgeError, load_intents
from app.config import Settings
from app.handoff.agents import AgentError
from app.storage.tables import Conversation


def known_brands(session: Session, settings: Settings) -> dict[str, str]:
    """Brand id -> display name: this deployment's brand (SMSDESK_BRAND_ID, named
    SMSDESK_BRAND_NAME) first, then every brand the database holds conversations of (a
    database shared by several deployments, or an earlier brand id), named by their id."""
    stored = session.exec(select(Conversation.brand).distinct()).all()
    return {settings.brand_id: settings.brand_name} | {
        brand: brand for brand in sorted(stored) if brand != settings.brand_id
    }


def known_teams(knowledge_dir: Path) -> dict[str, str]:
    """Team -> description, from the knowledge base's intent catalogue (`teams:` in
    intents.yaml, and any team an intent names); empty when the catalogue cannot be read."""
    path = knowledge_dir / INTENTS_FILE
    try:
        modified = path.stat().st_mtime_ns
    except OSError:
        return {}
    return dict(_teams_of(path, modified))


@lru_cache(maxsize=4)
def _teams_of(path: Path, _modified: int) -> tuple[tuple[str, str], ...]:
    try:
        intents, teams = load_intents(path)
    except KnowledgeError:
        return ()  # `smsdesk kb check` says what is wrong with the catalogue
    named = dict(teams)
    for intent in intents.values():
        if intent.team is not None:
            named.setdefault(intent.team, "")
    return tuple(sorted(named.items()))


def brand_label(brand: str, brands: dict[str, str]) -> str:
    """`default (Acme)`: a brand id with its display name, when it has one of its own."""
    name = brands.get(brand, brand)
    return brand if name == brand else f"{brand} ({name})"


def check_brands(
    chosen: Sequence[str], brands: dict[str, str], *, kept: Collection[str] = ()
) -> None:
    """AgentError naming the valid brands when one of `chosen` is not known (brands the agent
    already has are `kept`: a brand whose texts are gone does not block other edits)."""
    unknown = [b for b in chosen if b not in brands and b not in kept]
    if not unknown:
        return
    valid = ", ".join(brand_label(b, brands) for b in brands)
    by_name = [b for b, name in brands.items() if name.casefold() == unknown[0].casefold()]
    hint = ""
    if by_name:  # the README's own example typed the name (`--brand acme` for `Acme`)
        hint = (
            f" ({brands[by_name[0]]} is the display name of brand {by_name[0]}: use {by_name[0]})"
        )
    raise AgentError(f"unknown brand {unknown[0]!r}{hint}; the brands are: {valid}")


def check_team(team: str | None, teams: dict[str, str], *, kept: str | None = None) -> None:
    """AgentError naming the valid teams when `team` is not one of the knowledge base's."""
    if team is None or team == kept or team in teams:
        return
    if not teams:
        raise AgentError(f"unknown team {team!r}: the knowledge base's intents.yaml names no teams")
    raise AgentError(f"unknown team {team!r}; the teams are: {', '.join(teams)}")
