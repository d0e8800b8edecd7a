"""Canned responses: short texts agents insert and edit, with variables filled in.

The file is YAML, a list of `{name, title, text}`; `text` may use `{agent_name}`,
`{brand_name}`, `{customer_phone}`, `{support_phone}` and `{support_url}`. A variable the
file names but smsdesk does not know is left as written, so the agent sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from app.errors import InvalidInput

VARIABLES = ("agent_name", "brand_name", "customer_phone", "support_phone", "support_url")


@dataclass(frozen=True)
class CannedResponse:
    """One canned text."""

    name: str
    title: str
    text: str


class _KeepUnknown(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(text: str, values: dict[str, str]) -> str:
    """`text` with its known `{variables}` replaced."""
    try:
        return text.format_map(_KeepUnknown(values))
    except (ValueError, IndexError):  # a stray brace: better the raw text than nothing
        return text


def load_canned(path: Path) -> tuple[CannedResponse, ...]:
    """The canned responses in `path` (none when the file does not exist)."""
    if not path.exists():
        return ()
    stat = path.stat()
    return _load(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _load(path: Path, _mtime: int, _size: int) -> tuple[CannedResponse, ...]:
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(entries, list):
        raise InvalidInput(f"{path}: expected a list of {{name, title, text}}")
    found: list[CannedResponse] = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(k), str) and entry.get(k) for k in ("name", "text")
        ):
            raise InvalidInput(f"{path}: entry {number} needs a name and a text")
        found.append(
            CannedResponse(entry["name"], str(entry.get("title") or entry["name"]), entry["text"])
        )
    return tuple(found)
