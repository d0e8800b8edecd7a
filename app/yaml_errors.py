"""Reading a YAML file so that every schema error names its file and line.

PyYAML's `compose` keeps each node's position; pydantic reports an error's path (`loc`). Walking
the one along the other gives the line a person should look at, for every YAML file the project
validates (conversation scenarios, flows).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

_FIELD_NAME = re.compile(r"^[a-z_]+$")


class YamlReadError(Exception):
    """The file cannot be read or is not YAML; `str()` is `file[:line]: what is wrong`."""


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """The parsed data of `path` and its node tree (for `locate`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlReadError(f"{path}: cannot read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise YamlReadError(f"{path}{where}: not valid YAML ({exc})") from None
    return data, node


def locate(
    node: yaml.Node | None, loc: Iterable[Any], *, skip: frozenset[str] = frozenset()
) -> tuple[int, str]:
    """The 1-based line of the deepest YAML node on an error's path, and the path shown.

    Steps that are not in the file (pydantic's names for union members, such as
    `customer-turn` or `bool`, given in `skip`) are left out.
    """
    line = node.start_mark.line + 1 if node is not None else 1
    shown: list[str] = []
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            if isinstance(part, int) or part in skip:
                continue
            if not _FIELD_NAME.match(str(part)):
                continue
            shown.append(str(part))  # a missing field: name it, at its parent's line
            continue
        node = child
        line = node.start_mark.line + 1
        shown.append(str(part))
    return line, ".".join(shown)
