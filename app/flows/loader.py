"""Loading the flow files of a folder: every problem at once, each with its file and line."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from app.errors import InvalidInput
from app.flows.keywords import keyword_problems
from app.flows.schema import Flow
from app.yaml_errors import YamlReadError, locate, read_yaml

_NOT_IN_FILE = frozenset({"function-after", "function-before"})


class InvalidFlowFile(InvalidInput):
    """A flow file that cannot be read, breaks the schema or invites a reserved keyword."""

    code = "invalid_flow_file"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class FlowCatalogue:
    """The flows a deployment can start, by name."""

    flows: dict[str, Flow] = field(default_factory=dict)
    folder: Path | None = None

    def get(self, name: str) -> Flow | None:
        """The flow called `name`, or None."""
        return self.flows.get(name)

    def __iter__(self) -> Iterator[Flow]:
        return iter(self.flows[name] for name in sorted(self.flows))

    def __len__(self) -> int:
        return len(self.flows)


def load_flows(folder: Path) -> FlowCatalogue:
    """Every `*.yaml` flow of `folder`; raises `InvalidFlowFile` listing every problem as
    `file:line: field: message`. A missing folder is an empty catalogue (no flows shipped)."""
    if not folder.exists():
        return FlowCatalogue(folder=folder)
    if not folder.is_dir():
        raise InvalidFlowFile([f"{folder}: not a folder of flow files"])
    problems: list[str] = []
    flows: dict[str, Flow] = {}
    where: dict[str, Path] = {}
    for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
        flow, found = load_flow_file(path)
        problems += found
        if flow is None:
            continue
        if flow.name in flows:
            problems.append(
                f"{path}:1: name: flow {flow.name!r} is also defined in {where[flow.name]}"
            )
            continue
        flows[flow.name], where[flow.name] = flow, path
    if problems:
        raise InvalidFlowFile(problems)
    return FlowCatalogue(flows, folder)


def load_flow_file(path: Path) -> tuple[Flow | None, list[str]]:
    """One flow file: the flow (None if the schema refuses it) and its problems."""
    try:
        data, node = read_yaml(path)
    except YamlReadError as exc:
        return None, [str(exc)]
    problems = [
        f"{path}:{locate(node, place)[0]}: {'.'.join(place)}: {message}"
        for place, message in keyword_problems(data)
    ]
    flow: Flow | None = None
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            # A whole-flow check names the field it is about first ("nodes.x.options.1: ...").
            head, _, rest = message.partition(": ")
            if not loc and rest and ("." in head or head in ("text", "fallback")):
                loc, message = tuple(head.split(".")), rest
            line, shown = locate(node, loc, skip=_NOT_IN_FILE)
            problems.append(f"{path}:{line}: {shown or '(top level)'}: {message}")
    if flow is not None and flow.name != path.stem:
        line, _ = locate(node, ("name",))
        problems.append(
            f"{path}:{line}: name: {flow.name!r} differs from the file name {path.stem!r}"
        )
    problems = list(dict.fromkeys(problems))
    return (None if problems else flow), problems
