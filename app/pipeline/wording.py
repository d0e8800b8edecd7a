"""The words smsdesk itself sends (not the knowledge base's answers): hand-off
acknowledgements worded per reason and business hours, the safety text, a polite close and a
clarifying question, in the customer's language. The texts live in `data/replies.yaml`; a
business overrides any of them in `<knowledge dir>/replies.yaml`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from app.config import Settings
from app.errors import ConfigurationError
from app.handoff.sla import BusinessClock
from app.pipeline.decision import Group, Option

LANGUAGES = ("en", "es")
_DAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "es": ("lunes", "martes", "miercoles", "jueves", "viernes", "sabado", "domingo"),
}
_ACK_GROUPS = {
    Group.person: "person",
    Group.complaint: "complaint",
    Group.account: "account",
    Group.legal: "legal",
    Group.fraud: "fraud",
}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@cache
def _texts(knowledge_dir: Path | None) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        resources.files("app.pipeline").joinpath("data/replies.yaml").read_text("utf-8")
    )
    custom = knowledge_dir / "replies.yaml" if knowledge_dir is not None else None
    if custom is not None and custom.is_file():
        try:
            override = yaml.safe_load(custom.read_text("utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{custom}: not valid YAML ({exc})") from None
        if not isinstance(override, dict):
            raise ConfigurationError(f"{custom}: expected a mapping of languages")
        data = _merge(data, override)
    return data


@dataclass(frozen=True)
class Wording:
    """The texts of one deployment: its brand, emergency numbers, hours and SLA."""

    clock: BusinessClock
    sla_minutes: int
    emergency_number: str = "911"
    crisis_line: str = "988"
    knowledge_dir: Path | None = None

    def _lang(self, language: str) -> dict[str, Any]:
        texts = _texts(self.knowledge_dir)
        found: dict[str, Any] = texts.get(language) or texts["en"]
        return found

    def acknowledgement(self, group: Group, language: str, at: datetime) -> str:
        """Tells the customer a person will reply, and when."""
        words = self._lang(language)
        template = words["handoff"].get(_ACK_GROUPS.get(group, "default"))
        return str(template or words["handoff"]["default"]).format(when=self.when(language, at))

    def safety(self, language: str) -> str:
        """Emergency numbers first, then the person who will reply (any hour)."""
        return str(self._lang(language)["safety"]).format(
            emergency=self.emergency_number, crisis_line=self.crisis_line
        )

    def opt_out_instruction(self, language: str) -> str:
        """How to opt out, appended to a conversation's first text (MSG-2)."""
        return str(self._lang(language)["opt_out"])

    def close(self, language: str) -> str:
        """A polite close after a thanks."""
        return str(self._lang(language)["close"])

    def clarify(self, options: tuple[Option, ...], language: str) -> str:
        """One short question with numbered options."""
        listed = " ".join(f"{o.number}) {o.label}" for o in options)
        return str(self._lang(language)["clarify"]).format(options=listed)

    def context(self, language: str) -> dict[str, Any]:
        """The texts that word a customer's own records (`app.context.wording`)."""
        found: dict[str, Any] = self._lang(language).get("context") or self._lang("en")["context"]
        return found

    def when(self, language: str, at: datetime) -> str:
        """When a person will reply: within the SLA while the team works, else when it opens."""
        words = self._lang(language)["when"]
        opens = self.clock.next_open(at)
        if opens <= at:
            return str(words["open"]).format(minutes=self.sla_minutes)
        zone = opens.tzinfo
        local_at, local_open = at.astimezone(zone), opens
        hour = local_open.strftime("%I:%M%p").lstrip("0").replace(":00", "").lower()
        if local_open.date() == local_at.date():
            key = "later_today"
        elif local_open.date() == local_at.date() + timedelta(days=1):
            key = "tomorrow"
        else:
            key = "later"
        day = _DAYS.get(language, _DAYS["en"])[local_open.weekday()]
        return str(words[key]).format(time=hour, day=day)


def wording_for(settings: Settings) -> Wording:
    """The customer-facing texts of a deployment (its hours, SLA, numbers and overrides)."""
    clock = BusinessClock(
        settings.business_hours, settings.business_timezone, settings.business_holidays
    )
    return Wording(
        clock,
        settings.sla_first_response_minutes,
        emergency_number=settings.emergency_number,
        crisis_line=settings.crisis_line,
        knowledge_dir=settings.knowledge_dir,
    )
