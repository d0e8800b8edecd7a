"""Conversation scenarios: multi-turn YAML files with typed expectations per turn.

    scenarios:
    - id: hours-then-sunday
      description: a follow-up that leans on the previous answer
      tags: [context]
      turns:
      - customer: what time do you close?
        expect: {answer: store-hours}
      - customer: and on sunday?
        expect: {answer: store-hours, reply_contains: [sunday], queue_item: false}
      - customer: thanks!
        expect: {queue_item: false}

A customer turn is one inbound text; an agent turn is one console action (claim, reply, release,
resolve); a flow turn starts a flow for the customer (`- flow: order_pickup` with `vars:`), and
`flow_status`, `flow_outcome` and `flow_node` check the customer's latest run. Every `expect` key
is one assertion, checked after the turn has been processed. Files are validated as a whole:
every problem is reported with its file, line and field.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from app.errors import InvalidInput
from app.yaml_errors import YamlReadError, locate, read_yaml

ScenarioId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,79}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=1600)]
EntryIds = Annotated[list[str], Field(min_length=1)]
HandoffExpect = Literal[
    True, False, "person", "complaint", "safety", "account", "legal", "fraud", "not-in-kb"
]
"""`true`: a person took over; a reason class (`HandoffClass`): for that reason; `false`: not."""
_UNION_MEMBERS = frozenset(
    {"customer-turn", "agent-turn", "flow-turn", "bool", "str", "int", "float", "list", "dict"}
)
_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class InvalidScenarioFile(InvalidInput):
    """A scenario file that cannot be read or does not follow the schema."""

    code = "invalid_scenario_file"


def parse_duration(value: str) -> timedelta:
    """`30s`, `5m`, `2h`, `1d` as a timedelta (raises ValueError)."""
    match = _DURATION.match(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m, 2h or 1d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


FlowStatus = Literal["active", "completed", "handed_off", "expired", "opted_out", "cancelled"]


class Expect(BaseModel):
    """What must hold after one turn; every key given is one assertion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    answer: EntryIds | None = None
    """The bot answered this turn from one of these knowledge entries."""
    answer_all: EntryIds | None = None
    """The bot answered this turn from each of these entries (a text with two questions)."""
    clarify: bool | None = None
    """The bot asked a clarifying question (True) or did not (False)."""
    handoff: HandoffExpect | None = None
    """A person took over this turn (True, or with a reason of this class); False: nobody did."""
    priority: Literal["safety"] | None = None
    """The queue item has the top (safety) priority."""
    acknowledged: bool | None = None
    """The customer was told this turn that a person will reply (or was not, with False)."""
    queue_item: bool | None = None
    """An unresolved queue item exists for the conversation after the turn."""
    no_reply: bool | None = None
    """Nothing at all was sent to the customer this turn."""
    reply_contains: list[Text] = Field(default_factory=list)
    """Each of these appears (case-insensitive) in what was sent to the customer this turn."""
    reply_not_contains: list[Text] = Field(default_factory=list)
    """None of these appears (case-insensitive) in what was sent this turn."""
    compliance: Literal["opt_out", "opt_in", "help", "pass"] | None = None
    """What the compliance layer did with this text."""
    consent: Literal["subscribed", "opted_out"] | None = None
    """The customer's consent state after the turn (`subscribed` means not opted out)."""
    agent_draft: bool | None = None
    """The agent's composer is offered an AI draft for this text (True) or none (False)."""
    sent: bool | None = None
    """Agent turns: the agent's reply went out (True) or was blocked by the gate (False)."""
    flow_status: FlowStatus | None = None
    """The customer's latest flow run is in this state after the turn."""
    flow_outcome: str | None = None
    """... and has this outcome (`null`: none yet)."""
    flow_node: str | None = None
    """... and waits on this question (`null`: no question waits)."""
    flow_started: bool | None = None
    """Flow turns: the flow was started (True) or refused (False)."""

    @field_validator("answer", "answer_all", mode="before")
    @classmethod
    def _one_entry_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _something(self) -> Expect:
        if not self.model_fields_set:
            raise ValueError("expect needs at least one assertion")
        return self


class _Turn(BaseModel):
    """What every turn has: when it happens and what must hold after it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: str | None = None
    """Time since the previous turn (`30s`, `5m`, `2h`, `1d`); default one minute."""
    expect: Expect | None = None

    @field_validator("after")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


class CustomerTurn(_Turn):
    """The customer texts the business."""

    customer: Text


AgentAction = Literal["claim", "reply", "release", "resolve"]
Outcome = Literal["resolved", "return_to_bot", "no_reply_needed", "spam"]


class AgentTurn(_Turn):
    """An agent acts on the conversation in the console."""

    agent: AgentAction
    text: Text | None = None
    """`reply`: what the agent sends."""
    outcome: Outcome | None = None
    """`resolve`: how the item ends (`return_to_bot` hands the conversation back to the bot)."""

    @model_validator(mode="after")
    def _arguments(self) -> AgentTurn:
        if self.agent == "reply" and self.text is None:
            raise ValueError("an agent reply needs 'text'")
        if self.agent == "resolve" and self.outcome is None:
            raise ValueError("resolve needs an 'outcome'")
        if self.agent not in ("reply",) and self.text is not None:
            raise ValueError(f"'text' only goes with agent: reply, not {self.agent}")
        if self.agent != "resolve" and self.outcome is not None:
            raise ValueError(f"'outcome' only goes with agent: resolve, not {self.agent}")
        return self


class FlowTurn(_Turn):
    """The business starts a flow for the customer (`smsdesk flows send`, the API)."""

    flow: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
    vars: dict[str, str] = Field(default_factory=dict)
    """The flow's variables."""


def _turn_kind(item: Any) -> str | None:
    # A turn is told apart by its key, so an error names the fields of the right kind.
    if isinstance(item, dict):
        kinds = [kind for kind in ("customer", "agent", "flow") if kind in item]
        return f"{kinds[0]}-turn" if len(kinds) == 1 else None
    if isinstance(item, FlowTurn):
        return "flow-turn"
    return "customer-turn" if isinstance(item, CustomerTurn) else "agent-turn"


Turn = Annotated[
    Annotated[CustomerTurn, Tag("customer-turn")]
    | Annotated[AgentTurn, Tag("agent-turn")]
    | Annotated[FlowTurn, Tag("flow-turn")],
    Discriminator(
        _turn_kind,
        custom_error_type="turn_kind",
        custom_error_message=(
            "a turn has one of 'customer' (a text), 'agent' (an action) or 'flow' (a flow started)"
        ),
    ),
]


class Scenario(BaseModel):
    """One conversation, turn by turn."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: ScenarioId
    description: Text
    tags: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]+$")]] = Field(
        default_factory=list
    )
    at: datetime | None = None
    """When the first turn happens (ISO-8601 with an offset); default: a weekday at 11:00 in
    the business's time zone, when the team is at work."""
    opted_out: bool = False
    """The customer had opted out before the scenario starts."""
    marketing_consent: bool = False
    """The customer gave written consent to marketing texts before the scenario starts."""
    free_slots: list[datetime] = Field(default_factory=list)
    """The free appointment slots a flow's offer finds (default: none, a person books)."""
    phone: str | None = None
    """The number the customer texts from (E.164); default: a fresh one per scenario."""
    customers: Literal["none", "demo"] = "none"
    """The customer records on file during this scenario: `demo`, the demo customers
    (app/context/demo.py: every +1 212 555 01xx number has an order); removed afterwards."""
    turns: list[Turn] = Field(min_length=1)

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\+[1-9]\d{6,14}", value):
            raise ValueError(f"phone {value!r} is not an E.164 number such as +12125550100")
        return value

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("'at' needs a UTC offset, e.g. 2026-03-10T11:00:00-04:00")
        return value


class ScenarioFile(BaseModel):
    """The top level of a scenario file."""

    model_config = ConfigDict(extra="forbid")

    scenarios: list[Scenario] = Field(min_length=1)


def load_scenarios(path: Path) -> list[tuple[Path, Scenario]]:
    """Every scenario of a YAML file, or of every `*.yaml` under a folder (sorted by name).

    Raises `InvalidScenarioFile` listing every problem as `file:line: field: message`.
    """
    files = sorted(path.rglob("*.yaml")) + sorted(path.rglob("*.yml")) if path.is_dir() else [path]
    if not files:
        raise InvalidScenarioFile(f"{path}: no scenario files (*.yaml)")
    found: list[tuple[Path, Scenario]] = []
    problems: list[str] = []
    for file in files:
        try:
            found.extend((file, scenario) for scenario in _load_file(file))
        except InvalidScenarioFile as exc:
            problems.append(str(exc))
    seen: dict[str, Path] = {}
    for file, scenario in found:
        if scenario.id in seen:
            problems.append(
                f"{file}: scenario id {scenario.id!r} is also used in {seen[scenario.id]}"
            )
        seen.setdefault(scenario.id, file)
    if problems:
        raise InvalidScenarioFile("\n".join(problems))
    return found


def _load_file(path: Path) -> list[Scenario]:
    try:
        data, node = read_yaml(path)
    except YamlReadError as exc:
        raise InvalidScenarioFile(str(exc)) from None
    try:
        return ScenarioFile.model_validate(data).scenarios
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            line, where = locate(node, error["loc"], skip=_UNION_MEMBERS)
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{path}:{line}: {where or '(top level)'}: {message}")
        raise InvalidScenarioFile("\n".join(dict.fromkeys(lines))) from None
