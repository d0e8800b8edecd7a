"""Reading and editing knowledge entries from the console, with `smsdesk kb check`'s validation.

A save renders the form as an entry file, validates the whole folder as if the file were
written (`load_knowledge(root, pending=...)`, the very check `kb check` runs), and only then
writes it atomically and announces the new version (`app.ai.knowledge_version.bump`), which
every answering process picks up on its next text. Nothing here raises for a bad input: a
refused save returns its problems, by form field where the problem names one.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.ai.knowledge import (
    ENTRIES_DIR,
    KnowledgeBase,
    KnowledgeEntry,
    KnowledgeError,
    Specific,
    load_knowledge,
    parse_entry,
    render_entry_text,
)
from app.ai.knowledge_version import bump, knowledge_files, write_atomically
from app.config import Settings

SPECIFICS: tuple[str, ...] = get_args(Specific)
FORM_FIELDS = (
    "id",
    "intent",
    "question",
    "phrasings",
    "answer",
    "link",
    "team",
    "answer_es",
    "handoff_when_given",
    "body",
)
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_FIELD = re.compile(r"^field '([a-z_]+)[^']*': ")
_save_lock = threading.Lock()
"""One save at a time in this process: validate-then-write must not interleave."""


_TEXT_MAX = 20_000


class EntryForm(BaseModel):
    """What an admin typed (phrasings one per line), to render, validate and show again; the
    console's form posts straight into it."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default="", max_length=_TEXT_MAX)
    intent: str = Field(default="", max_length=_TEXT_MAX)
    question: str = Field(default="", max_length=_TEXT_MAX)
    phrasings: str = Field(default="", max_length=_TEXT_MAX)
    answer: str = Field(default="", max_length=_TEXT_MAX)
    link: str = Field(default="", max_length=_TEXT_MAX)
    team: str = Field(default="", max_length=_TEXT_MAX)
    answer_es: str = Field(default="", max_length=_TEXT_MAX)
    handoff_when_given: tuple[str, ...] = ()
    body: str = Field(default="", max_length=_TEXT_MAX)

    @field_validator("handoff_when_given")
    @classmethod
    def _known_specifics(cls, given: tuple[str, ...]) -> tuple[str, ...]:
        # Checkboxes: a value the form never offered is dropped, not an error.
        return tuple(g for g in given if g in SPECIFICS)

    @classmethod
    def of(cls, entry: KnowledgeEntry) -> EntryForm:
        """The form showing a stored entry."""
        return cls(
            id=entry.id,
            intent=entry.intent,
            question=entry.question,
            phrasings="\n".join(entry.phrasings),
            answer=entry.answer,
            link=entry.link or "",
            team=entry.team or "",
            answer_es=entry.answer_es or "",
            handoff_when_given=tuple(entry.handoff_when_given),
            body=entry.body,
        )

    def file_text(self) -> str:
        """The entry file this form describes (valid or not: validation reads it)."""
        front: dict[str, Any] = {
            "id": self.id.strip(),
            "intent": self.intent.strip(),
            "question": self.question.strip(),
            "phrasings": [p.strip() for p in self.phrasings.splitlines() if p.strip()],
            "answer": self.answer.strip(),
            "link": self.link.strip(),
            "team": self.team.strip(),
            "answer_es": self.answer_es.strip(),
            "handoff_when_given": list(self.handoff_when_given),
        }
        return render_entry_text(front, self.body.replace("\r\n", "\n"))


@dataclass(frozen=True)
class Refused:
    """Why a save was refused: problems by form field, and the others."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    other: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Saved:
    """A written entry, and whether it is new."""

    entry: KnowledgeEntry
    created: bool


_cache_lock = threading.Lock()
_cache: dict[Path, tuple[object, KnowledgeBase | KnowledgeError]] = {}


def _folder_state(root: Path) -> object:
    # Names, inodes, sizes and mtimes: an atomic rename or any edit changes one of them.
    return tuple(
        (str(f), s.st_ino, s.st_size, s.st_mtime_ns)
        for f in knowledge_files(root)
        for s in [f.stat()]
    )


def read_knowledge(root: Path) -> KnowledgeBase | KnowledgeError:
    """The folder as it is now, or why it does not validate (parsed again only when a
    file changed: the conversation page shows entries on every live update)."""
    state = _folder_state(root) if root.is_dir() else ()
    with _cache_lock:
        cached = _cache.get(root)
        if cached is not None and cached[0] == state:
            return cached[1]
    try:
        result: KnowledgeBase | KnowledgeError = load_knowledge(root)
    except KnowledgeError as exc:
        result = exc
    with _cache_lock:
        _cache[root] = (state, result)
    return result


def find_entry_file(root: Path, entry_id: str) -> Path | None:
    """The file holding entry `entry_id`, even while other files do not validate."""
    guess = root / ENTRIES_DIR / f"{entry_id}.md"
    for file in [guess, *sorted((root / ENTRIES_DIR).rglob("*.md"))]:
        if not file.is_file():
            continue
        try:
            if parse_entry(file.read_text(encoding="utf-8"), str(file)).id == entry_id:
                return file
        except (KnowledgeError, UnicodeDecodeError):
            continue
    return None


def save_entry(settings: Settings, form: EntryForm, *, editing: str | None) -> Saved | Refused:
    """Validate and write one entry: a new one (`editing` None) or the entry `editing`
    (whose id stays). Announces the new version on success; writes nothing when refused."""
    root = settings.knowledge_dir
    entry_id = form.id.strip()
    if not _ID.match(entry_id):
        return Refused(
            {"id": ["lower-case letters, digits, - and _ only, starting with a letter or digit"]}
        )
    with _save_lock:
        if editing is None:
            target = root / ENTRIES_DIR / f"{entry_id}.md"
            if target.exists() or find_entry_file(root, entry_id) is not None:
                return Refused({"id": [f"an entry with id {entry_id} already exists"]})
        else:
            found = find_entry_file(root, editing)
            if found is None:
                return Refused(other=[f"there is no entry {editing} any more"])
            target = found
        text = form.file_text()
        try:
            entry = load_knowledge(root, pending={target: text}).entry(entry_id)
        except KnowledgeError as exc:
            return _refusal(exc.problems, target, root)
        write_atomically(target, text)
        bump(settings)
    return Saved(entry, created=editing is None)


def _refusal(problems: list[str], target: Path, root: Path) -> Refused:
    by_field: dict[str, list[str]] = {}
    other: list[str] = []
    own = f"{target}: "
    for problem in problems:
        rest = problem.removeprefix(own)
        match = _FIELD.match(rest) if rest != problem else None
        if match and match.group(1) in FORM_FIELDS:
            message = rest[match.end() :].strip()
            by_field.setdefault(match.group(1), []).append(message)
        else:
            other.append(problem.replace(f"{root}/", ""))
    return Refused(by_field, other)
