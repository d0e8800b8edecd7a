"""The knowledge base: FAQ entries (Markdown with YAML front matter) and the intent catalogue.

    knowledge/
      intents.yaml          teams, and every intent with a description and example texts
      entries/*.md          one FAQ entry per file: front matter (id, intent, question,
                            phrasings, answer, link, team) and a longer explanation as body

`load_knowledge(path)` reads and validates all of it at once and raises one `KnowledgeError`
that lists every problem with its file and field, so a team editing the content fixes everything
in one pass instead of one error per run.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from app.compliance.lexicon import lexicon
from app.compliance.segments import count_segments
from app.errors import ConfigurationError

MAX_REPLY_CHARS = 320
"""An answer (with its link appended) must fit two concatenated SMS segments' worth of text."""
MIN_INTENT_EXAMPLES = 8
"""Fewer examples than this train a poor intent classifier."""
INTENTS_FILE = "intents.yaml"
ENTRIES_DIR = "entries"

Specific = Literal["order_number", "amount", "date", "email", "photo", "card_digits"]
"""Details a customer can give in a text (`app.ai.specifics` finds them)."""
HandoffKind = Literal["person", "complaint", "legal", "fraud", "account"]
EntryId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class KnowledgeError(ConfigurationError):
    """The knowledge base (or an import file) has problems; `.problems` lists each one."""

    code = "knowledge_error"

    def __init__(self, problems: list[str], *, what: str = "invalid knowledge base") -> None:
        shown = problems[:20]
        more = (
            f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        )
        super().__init__("\n  ".join([f"{what}:", *shown]) + more)
        self.problems = problems


class KnowledgeEntry(BaseModel):
    """One FAQ entry: what customers ask (question, phrasings) and the SMS answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: EntryId
    intent: Name
    question: Text
    phrasings: list[Text] = Field(default_factory=list)
    """Other ways customers ask the same thing, as they would text it."""
    answer: Text
    link: str | None = None
    """Where to read more; appended to the SMS unless the answer already contains it."""
    team: Name | None = None
    """The team a hand-off about this entry goes to (default: the intent's team)."""
    answer_es: Text | None = None
    """The answer in Spanish (a Spanish question gets it; without it, a person answers)."""
    handoff_when_given: list[Specific] = Field(default_factory=list)
    """The answer asks the customer to text these (an order number, an amount...): a text
    that already gives them needs a person, not this answer again."""
    body: str = ""
    """The longer explanation: grounding for a drafted reply and context for agents."""
    source: str | None = Field(default=None, exclude=True)
    """The file the entry came from (for error messages; not part of the content)."""

    def texts(self) -> list[str]:
        """The question and every phrasing, without duplicates, in file order."""
        return list(dict.fromkeys([self.question, *self.phrasings]))

    def sms_reply(self, language: str = "en") -> str:
        """The text a customer receives: the answer (in `language` when the entry has it),
        plus the link when it is not in it."""
        answer = self.answer_es if language == "es" and self.answer_es else self.answer
        if self.link is None or _bare_url(self.link) in answer:
            return answer
        return f"{answer} {_bare_url(self.link)}"

    def speaks(self, language: str) -> bool:
        """Whether the entry has an answer in `language` (English always)."""
        return language == "en" or (language == "es" and self.answer_es is not None)

    def content_hash(self) -> str:
        """A digest of everything the index derives from this entry (changes trigger a re-index)."""
        payload = self.model_dump(mode="json", exclude={"source", "body"})
        raw = json.dumps(payload, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


class Intent(BaseModel):
    """One intent of the catalogue: what it means, who owns it, and training examples."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    description: Text
    team: Name | None = None
    handoff: HandoffKind | None = None
    """Texts of this intent always go to a person, for this kind of reason (asking for a
    person, a complaint, a legal or fraud matter, the customer's own account): no bot answer
    can promise what only a person can do."""
    examples: list[Text] = Field(min_length=MIN_INTENT_EXAMPLES)


@dataclass(frozen=True)
class KnowledgeBase:
    """Every entry and intent of one knowledge folder, validated together."""

    root: Path
    entries: tuple[KnowledgeEntry, ...]
    intents: dict[str, Intent]
    teams: dict[str, str] = field(default_factory=dict)

    def entry(self, entry_id: str) -> KnowledgeEntry:
        """The entry with this id (KeyError if there is none)."""
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        raise KeyError(entry_id)

    def team_for(self, entry: KnowledgeEntry) -> str | None:
        """The team that owns `entry`: its own, else its intent's."""
        return entry.team or self.intents[entry.intent].team


def _bare_url(url: str) -> str:
    return re.sub(r"^https?://", "", url).rstrip("/")


def field_errors(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(front matter)"
        problems.append(f"field '{where}': {err['msg']}")
    return problems


_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)(.*)\Z", re.DOTALL)


def parse_entry(text: str, source: str) -> KnowledgeEntry:
    """Parse one entry file's text; a KnowledgeError names `source` and the field at fault."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise KnowledgeError([f"{source}: no front matter (the file must start with a '---' line)"])
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 2}" if mark is not None else ""  # +2: 0-based, '---'
        raise KnowledgeError([f"{source}: front matter is not valid YAML{line}"]) from exc
    if not isinstance(data, dict):
        raise KnowledgeError([f"{source}: front matter must be a mapping of fields"])
    body = _strip_title(match.group(2).strip())
    try:
        entry = KnowledgeEntry.model_validate({**data, "body": body, "source": source})
    except ValidationError as exc:
        raise KnowledgeError([f"{source}: {p}" for p in field_errors(exc)]) from exc
    problems = [f"{source}: {p}" for p in answer_problems(entry)]
    if problems:
        raise KnowledgeError(problems)
    return entry


def _strip_title(body: str) -> str:
    # The "# Question" heading is for people browsing the folder; it repeats the front matter.
    lines = body.splitlines()
    if lines and lines[0].startswith("# "):
        return "\n".join(lines[1:]).strip()
    return body


def _reserved_keywords() -> list[str]:
    # The compliance layer's own list: an answer that says e.g. "reply YES to confirm" would
    # collide with opt-in/opt-out handling, which always wins over the AI layer.
    return sorted((kw.canonical for kw in lexicon().by_canonical.values()), key=len, reverse=True)


def answer_problems(entry: KnowledgeEntry) -> list[str]:
    """What is wrong with the SMS an entry sends (length, encoding, reserved keywords), in
    every language it has."""
    problems = _sms_problems(entry.sms_reply(), entry.sms_reply() != entry.answer, "answer")
    if entry.answer_es is not None:
        spanish = entry.sms_reply("es")
        problems += _sms_problems(spanish, spanish != entry.answer_es, "answer_es")
    return problems


def _sms_problems(reply: str, with_link: bool, field: str) -> list[str]:
    problems = []
    if len(reply) > MAX_REPLY_CHARS:
        what = f"{field} + link" if with_link else field
        problems.append(
            f"field '{field}': {what} is {len(reply)} characters, the limit is {MAX_REPLY_CHARS}"
        )
    if count_segments(reply).encoding != "GSM-7":
        # One curly quote or emoji switches the whole SMS to UCS-2: 70 characters a segment.
        odd = sorted({ch for ch in reply if count_segments(ch).encoding != "GSM-7"})
        problems.append(f"field '{field}': characters outside GSM-7: {' '.join(odd)}")
    for keyword in _reserved_keywords():
        pattern = rf"(?<![A-Za-z]){re.escape(keyword)}(?![A-Za-z])"
        instruction = rf"\b(reply|text|send|txt)\s+['\"]?{re.escape(keyword)}\b"
        if re.search(pattern, reply) or re.search(instruction, reply, re.IGNORECASE):
            problems.append(f"field '{field}': uses the reserved keyword {keyword}")
            break
    return problems


def load_intents(path: Path) -> tuple[dict[str, Intent], dict[str, str]]:
    """Read the intent catalogue: (intents by name, team descriptions by name)."""
    source = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise KnowledgeError([f"{source}: the intent catalogue is missing"]) from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise KnowledgeError([f"{source}: not a readable YAML file ({exc})"]) from exc
    if not isinstance(data, dict) or not isinstance(data.get("intents"), dict):
        raise KnowledgeError([f"{source}: expected a mapping with an 'intents' mapping"])
    teams = {str(k): str(v) for k, v in (data.get("teams") or {}).items()}
    intents: dict[str, Intent] = {}
    problems: list[str] = []
    for name, raw in data["intents"].items():
        fields = raw if isinstance(raw, dict) else {}
        try:
            intent = Intent.model_validate({**fields, "name": str(name)})
        except ValidationError as exc:
            problems += [f"{source}: intent '{name}': {p}" for p in field_errors(exc)]
            continue
        if teams and intent.team is not None and intent.team not in teams:
            problems.append(f"{source}: intent '{name}': field 'team': unknown team {intent.team}")
        intents[intent.name] = intent
    if problems:
        raise KnowledgeError(problems)
    return intents, teams


def _entry_files(root: Path, extra: Iterable[Path] = ()) -> Iterable[Path]:
    return sorted({*(root / ENTRIES_DIR).rglob("*.md"), *extra})


def load_knowledge(path: Path, *, pending: Mapping[Path, str] | None = None) -> KnowledgeBase:
    """Read and validate a knowledge folder; a KnowledgeError lists every problem found.

    `pending` maps entry files (under `path / "entries"`) to text not written yet: the
    folder is checked as if they were, so a console edit is validated exactly like
    `smsdesk kb check` before anything touches the disk."""
    pending = pending or {}
    if not path.is_dir():
        raise KnowledgeError([f"{path}: not a folder (set SMSDESK_KNOWLEDGE_DIR)"])
    problems: list[str] = []
    try:
        intents, teams = load_intents(path / INTENTS_FILE)
    except KnowledgeError as exc:
        problems += exc.problems
        intents, teams = {}, {}
    entries: list[KnowledgeEntry] = []
    seen: dict[str, str] = {}
    for file in _entry_files(path, pending):
        if file.name.lower() == "readme.md":
            continue
        source = str(file)
        try:
            text = pending[file] if file in pending else file.read_text(encoding="utf-8")
            entry = parse_entry(text, source)
        except UnicodeDecodeError:
            problems.append(f"{source}: not UTF-8 text")
            continue
        except KnowledgeError as exc:
            problems += exc.problems
            continue
        if entry.id in seen:
            problems.append(
                f"{source}: field 'id': duplicate id {entry.id} (also {seen[entry.id]})"
            )
        seen[entry.id] = source
        problems += _reference_problems(entry, source, intents, teams)
        entries.append(entry)
    if not entries and not problems:
        problems.append(f"{path / ENTRIES_DIR}: no entries (*.md files)")
    if problems:
        raise KnowledgeError(problems)
    return KnowledgeBase(root=path, entries=tuple(entries), intents=intents, teams=teams)


def _reference_problems(
    entry: KnowledgeEntry, source: str, intents: dict[str, Intent], teams: dict[str, str]
) -> list[str]:
    problems = []
    if intents and entry.intent not in intents:
        problems.append(f"{source}: field 'intent': unknown intent {entry.intent} (not in intents)")
    if teams and entry.team is not None and entry.team not in teams:
        problems.append(f"{source}: field 'team': unknown team {entry.team}")
    return problems


def render_entry(entry: KnowledgeEntry) -> str:
    """The Markdown file for `entry` (front matter, a title, the body), as `parse_entry` reads."""
    front: dict[str, Any] = entry.model_dump(exclude={"body", "source"}, exclude_none=True)
    return render_entry_text(front, entry.body)


def render_entry_text(front: Mapping[str, Any], body: str) -> str:
    """An entry file from its front matter fields and body, whether or not they are valid
    (the console renders what an admin typed, then validates the file like any other)."""
    fields = {k: v for k, v in front.items() if v not in (None, "", [])}
    head = yaml.safe_dump(fields, sort_keys=False, width=100, allow_unicode=True)
    text = f"\n{body.strip()}\n" if body.strip() else ""
    return f"---\n{head}---\n\n# {str(front.get('question') or '').strip()}\n{text}"


# --- Importing a FAQ export (`smsdesk kb import`) -------------------------------------------
