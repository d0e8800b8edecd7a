"""The flow file format, as pydantic models: what a YAML file in `flows/` may say.

    name: appointment_reminder
    category: transactional
    variables: [name, date, time]
    text: "{brand}: Hi {name}, ... Reply 1 to confirm, 2 to reschedule."
    start: confirm
    nodes:
      confirm:
        options:
          "1": {label: confirm, means: "yes", outcome: confirmed, text: "See you then."}
          "2": {label: reschedule, next: pick_slot}

Only the shape is checked here; the rules that need the compliance layer's word lists (KW-1)
are checked by `app.flows.keywords` when the catalogue loads. docs/flows.md describes every
field.
"""

from __future__ import annotations

import re
import string
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

FlowName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
NodeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
OptionKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]{1,10}$")]
"""Digits or one short lower-case word: what the customer types to pick an option."""
Template = Annotated[str, StringConstraints(min_length=1, max_length=480)]
Label = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Team = Annotated[str, StringConstraints(min_length=1, max_length=64)]

BUILTIN_VARIABLES = frozenset({"brand", "slots", "choice"})
"""Filled in by smsdesk: the brand's name, the offered items (`offer`), the one picked."""
_DURATION = re.compile(r"^(\d+)\s*(m|h|d)$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_window(value: str) -> timedelta:
    """`30m`, `48h` or `2d` as a timedelta (raises ValueError)."""
    match = _DURATION.match(value.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"{value!r} is not a duration such as 30m, 48h or 2d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def placeholders(template: str) -> set[str]:
    """The `{variables}` a template uses (raises ValueError on a malformed brace)."""
    names = set()
    for _literal, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if not re.fullmatch(r"[a-z][a-z0-9_]*", field) or spec or conversion:
            raise ValueError(f"{{{field}}} is not a plain {{variable}} placeholder")
        names.add(field)
    return names


class HandOffTo(BaseModel):
    """A person takes over the conversation (the run ends as `handed_off`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    team: Team | None = None
    """The team whose agents should take it (None: anyone on the brand)."""
    note: Annotated[str, StringConstraints(min_length=1, max_length=120)] = "flow needs a person"
    """What the agent reads as the hand-off's reason in the console."""


class Choice(BaseModel):
    """What one reply does. At least one of `text`, `outcome`, `next`, `handoff`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: Label | None = None
    """The option's meaning in one word (`confirm`, `reschedule`): reports and the console."""
    examples: list[Annotated[str, StringConstraints(min_length=1, max_length=160)]] = Field(
        default_factory=list
    )
    """Free-text replies that mean this option ("yeah i'll be there"), for the sentence encoder."""
    means: Literal["yes", "no"] | None = None
    """This option is the question's yes (or no): a bare "yeah" / "nope" picks it."""
    text: Template | None = None
    """The follow-up text sent when this reply is picked."""
    outcome: Label | None = None
    """The run's outcome (`confirmed`, `rescheduled`): without `next`, the run completes."""
    next: NodeName | None = None
    """The question asked next (its `text` is sent after this option's `text`)."""
    webhook: Label | None = None
    """An event POSTed, signed, to the business's system (the flow's or the setting's URL)."""
    handoff: HandOffTo | None = None
    """A person takes over after this reply."""

    @model_validator(mode="after")
    def _does_something(self) -> Choice:
        if not (self.text or self.outcome or self.next or self.handoff):
            raise ValueError("an option needs at least one of text, outcome, next or handoff")
        if self.next and self.handoff:
            raise ValueError("an option either steps to 'next' or hands off, not both")
        return self


class Offer(BaseModel):
    """Options made at run time from customer data (free appointment slots)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["free_slots"]
    """Where the offered items come from (`free_slots`: the brand's free appointment slots)."""
    count: int = Field(default=3, ge=1, le=5)
    """How many items at most; they are numbered 1..count and listed in the text's {slots}."""
    choice: Choice
    """What picking an offered item does ({choice} is the item picked)."""
    when_empty: Choice
    """What happens when there is nothing to offer (usually a hand-off)."""


class Node(BaseModel):
    """One question waiting for an answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: Template | None = None
    """The question, sent when a reply steps here (the start node is asked by the flow's text)."""
    options: dict[OptionKey, Choice] = Field(default_factory=dict)
    offer: Offer | None = None
    free_text: Choice | None = None
    """Any reply is the answer (a "tell us more" after a low rating); keywords still win."""
    fallback: Template | None = None
    """Overrides the flow's fallback for this question."""

    @field_validator("options", mode="before")
    @classmethod
    def _keys_are_text(cls, value: object) -> object:
        # YAML reads `1:` as an int key: the key the customer types is text either way. But
        # YAML 1.1 reads a bare yes/no/on/off as a boolean: a silent "true" would be a bug.
        if isinstance(value, dict):
            booleans = [k for k in value if isinstance(k, bool)]
            if booleans:
                raise ValueError(
                    f"an option key read as {str(booleans[0]).lower()}: quote yes/no/on/off keys"
                )
            return {str(k).strip().lower(): v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _answerable(self) -> Node:
        if not (self.options or self.offer or self.free_text):
            raise ValueError("a question needs options, an offer or free_text")
        if self.free_text and (self.options or self.offer):
            raise ValueError("free_text takes any reply: it cannot have options or an offer")
        if self.offer:
            clash = [k for k in self.options if k.isdigit() and 1 <= int(k) <= self.offer.count]
            if clash:
                raise ValueError(f"option {clash[0]!r} is taken by the offer's numbers 1..count")
        return self


class Flow(BaseModel):
    """One flow file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: FlowName
    description: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    category: Literal["transactional", "marketing"]
    """What the first text is for the send-time gate (marketing needs marketing consent)."""
    variables: list[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]] = Field(
        default_factory=list
    )
    """Values the sender must give for every run (`{name}` in the texts)."""
    text: Template
    """The first text: it names the brand and asks the start node's question."""
    start: NodeName
    nodes: dict[NodeName, Node] = Field(min_length=1)
    fallback: Template
    """Sent after a reply that looks like an answer but matches no option."""
    handoff_after: int = Field(default=2, ge=1, le=5)
    """After this many unrecognised replies to one question, a person takes over."""
    reply_window: str | None = None
    """How long a question accepts answers (`48h`); default SMSDESK_FLOW_REPLY_WINDOW_HOURS."""
    webhook_url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None
    """Where this flow's webhook events go (default SMSDESK_FLOW_WEBHOOK_URL)."""

    @field_validator("reply_window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is not None:
            parse_window(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Flow:
        if self.start not in self.nodes:
            raise ValueError(f"start {self.start!r} is not one of the nodes")
        known = set(self.variables) | BUILTIN_VARIABLES
        for where, template in self.templates():
            unknown = placeholders(template) - known
            if unknown:
                raise ValueError(f"{where}: unknown variable {{{sorted(unknown)[0]}}}")
        for where, choice in self.choices():
            if choice.next and choice.next not in self.nodes:
                raise ValueError(f"{where}: next {choice.next!r} is not one of the nodes")
        for name, node in self.nodes.items():
            if name != self.start and not node.text:
                raise ValueError(f"nodes.{name}: a question reached by 'next' needs a text")
        return self

    def choices(self) -> list[tuple[str, Choice]]:
        """Every option with its place in the file (`nodes.confirm.options.1`)."""
        found: list[tuple[str, Choice]] = []
        for name, node in self.nodes.items():
            found += [(f"nodes.{name}.options.{key}", c) for key, c in node.options.items()]
            if node.offer:
                found.append((f"nodes.{name}.offer.choice", node.offer.choice))
                found.append((f"nodes.{name}.offer.when_empty", node.offer.when_empty))
            if node.free_text:
                found.append((f"nodes.{name}.free_text", node.free_text))
        return found

    def templates(self) -> list[tuple[str, str]]:
        """Every text a customer may read, with its place in the file."""
        found = [("text", self.text), ("fallback", self.fallback)]
        for name, node in self.nodes.items():
            found += [
                (f"nodes.{name}.{f}", t) for f in ("text", "fallback") if (t := getattr(node, f))
            ]
        found += [(f"{where}.text", c.text) for where, c in self.choices() if c.text]
        return found

    def window(self, default: timedelta) -> timedelta:
        """How long this flow's questions accept answers."""
        return parse_window(self.reply_window) if self.reply_window else default
