"""`smsdesk kb import`: FAQ exports (CSV) turned into knowledge entries to review.

Two layouts: `simple` (question, answer, intent; optional id, phrasings, link, team) and
`bitext` (the Bitext customer-support sample: instruction, intent, response).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.ai.knowledge import (
    ENTRIES_DIR,
    INTENTS_FILE,
    MAX_REPLY_CHARS,
    MIN_INTENT_EXAMPLES,
    Intent,
    KnowledgeEntry,
    KnowledgeError,
    answer_problems,
    field_errors,
    load_intents,
    render_entry,
)

SIMPLE_REQUIRED = ("question", "answer", "intent")
SIMPLE_OPTIONAL = ("id", "phrasings", "link", "team")
BITEXT_REQUIRED = ("instruction", "intent", "response")
MAX_IMPORTED_PHRASINGS = 12
IMPORT_ERROR = "cannot import"
# Typographic characters that exports carry and that would turn an SMS into UCS-2.
_GSM_FRIENDLY = str.maketrans(
    {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "\u00a0": " "}
)


@dataclass(frozen=True)
class ImportResult:
    """What an import produced: entries, intents new to the catalogue, and things to review."""

    entries: tuple[KnowledgeEntry, ...]
    new_intents: dict[str, Intent]
    warnings: tuple[str, ...] = ()


def gsm_friendly(text: str) -> str:
    """`text` with typographic quotes, dashes and ellipses replaced by GSM-7 characters."""
    return " ".join(text.translate(_GSM_FRIENDLY).split())


def slug(text: str) -> str:
    """An entry id made from `text` (lower case, hyphens)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64] or "entry"


def _read_csv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    source = str(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or []]
            missing = [c for c in required if c not in columns]
            if not columns:
                raise KnowledgeError(
                    [f"{source}: empty file (expected a header row)"], what=IMPORT_ERROR
                )
            if missing:
                found = ", ".join(columns)
                raise KnowledgeError(
                    [f"{source}: missing column(s) {', '.join(missing)}; found {found}"],
                    what=IMPORT_ERROR,
                )
            rows = []
            for row in reader:
                rows.append({(k or "").strip(): (v or "").strip() for k, v in row.items()})
    except FileNotFoundError as exc:
        raise KnowledgeError([f"{source}: no such file"], what=IMPORT_ERROR) from exc
    except UnicodeDecodeError as exc:
        raise KnowledgeError(
            [f"{source}: not UTF-8 text (save the export as UTF-8 CSV)"], what=IMPORT_ERROR
        ) from exc
    except csv.Error as exc:
        raise KnowledgeError(
            [f"{source}: not a readable CSV file ({exc})"], what=IMPORT_ERROR
        ) from exc
    if not rows:
        raise KnowledgeError([f"{source}: no rows after the header"], what=IMPORT_ERROR)
    return rows


def import_simple(path: Path) -> ImportResult:
    """One entry per row: question, answer, intent [, id, phrasings (| separated), link, team]."""
    problems: list[str] = []
    entries: list[KnowledgeEntry] = []
    for number, row in enumerate(_read_csv(path, SIMPLE_REQUIRED), start=2):  # 1 is the header
        source = f"{path}: row {number}"
        data: dict[str, Any] = {
            "id": row.get("id") or slug(row["question"]),
            "intent": row["intent"],
            "question": gsm_friendly(row["question"]),
            "phrasings": [
                gsm_friendly(p) for p in row.get("phrasings", "").split("|") if p.strip()
            ],
            "answer": gsm_friendly(row["answer"]),
            "link": row.get("link") or None,
            "team": row.get("team") or None,
            "source": source,
        }
        try:
            entry = KnowledgeEntry.model_validate(data)
        except ValidationError as exc:
            problems += [f"{source}: {p}" for p in field_errors(exc)]
            continue
        problems += [f"{source}: {p}" for p in answer_problems(entry)]
        entries.append(entry)
    if problems:
        raise KnowledgeError(problems, what=IMPORT_ERROR)
    return ImportResult(tuple(entries), _intents_from(entries, path), ())


def _sms_answer(response: str) -> tuple[str, bool]:
    """The longest run of whole sentences that fits an SMS (and whether it had to be cut)."""
    sentences = re.split(r"(?<=[.!?])\s+", gsm_friendly(response))
    answer = ""
    for sentence in sentences:
        candidate = f"{answer} {sentence}".strip()
        if len(candidate) > MAX_REPLY_CHARS:
            break
        answer = candidate
    if answer:
        return answer, answer != " ".join(sentences)
    cut = sentences[0][: MAX_REPLY_CHARS - 3].rsplit(" ", 1)[0]
    return f"{cut}...", True


def _spread(items: Sequence[str], count: int) -> list[str]:
    """Up to `count` items taken evenly across `items`."""
    if count <= 0 or not items:
        return []
    step = max(1, len(items) // count)
    return list(items[::step][:count])


def import_bitext(path: Path) -> ImportResult:
    """One entry per Bitext intent: a typical question, up to 12 phrasings, an SMS-sized answer."""
    by_intent: dict[str, list[dict[str, str]]] = {}
    for row in _read_csv(path, BITEXT_REQUIRED):
        if row["instruction"] and row["intent"]:
            by_intent.setdefault(row["intent"], []).append(row)
    entries: list[KnowledgeEntry] = []
    warnings: list[str] = []
    problems: list[str] = []
    examples: dict[str, list[str]] = {}
    for intent, rows in sorted(by_intent.items()):
        # Prefer questions without order numbers or placeholders: they read as FAQ questions.
        ordered = sorted(
            rows,
            key=lambda r: (
                bool(re.search(r"\d|\{\{", r["instruction"])),
                not r["instruction"].endswith("?"),
                len(r["instruction"]),
            ),
        )
        chosen = ordered[0]
        texts = list(dict.fromkeys(gsm_friendly(r["instruction"]) for r in ordered))
        # Plain phrasings first, spread over lengths; ones with order numbers only to fill up.
        plain = [t for t in texts[1:] if not re.search(r"\d|\{\{", t)]
        phrasings = _spread(plain, MAX_IMPORTED_PHRASINGS)
        others = [t for t in texts[1:] if t not in set(plain)]
        phrasings += _spread(others, MAX_IMPORTED_PHRASINGS - len(phrasings))
        answer, cut = _sms_answer(chosen["response"])
        data = {
            "id": slug(intent),
            "intent": intent,
            "question": texts[0],
            "phrasings": phrasings,
            "answer": answer,
            "body": chosen["response"],
            "source": f"{path}: intent {intent}",
        }
        try:
            entry = KnowledgeEntry.model_validate(data)
        except ValidationError as exc:
            problems += [f"{path}: intent {intent}: {p}" for p in field_errors(exc)]
            continue
        problems += [f"{path}: intent {intent}: {p}" for p in answer_problems(entry)]
        if cut:
            warnings.append(f"{entry.id}: answer shortened to fit an SMS; review it")
        if "{{" in answer:
            warnings.append(f"{entry.id}: answer has {{{{placeholders}}}}; replace them")
        examples[intent] = list(dict.fromkeys(r["instruction"] for r in rows))[:20]
        entries.append(entry)
    if problems:
        raise KnowledgeError(problems, what=IMPORT_ERROR)
    return ImportResult(tuple(entries), _intents_from(entries, path, examples), tuple(warnings))


def _intents_from(
    entries: Sequence[KnowledgeEntry], path: Path, examples: dict[str, list[str]] | None = None
) -> dict[str, Intent]:
    """Catalogue entries for the intents the imported entries name (examples: their texts)."""
    texts: dict[str, list[str]] = {}
    for entry in entries:
        texts.setdefault(entry.intent, []).extend(entry.texts())
    for intent, extra in (examples or {}).items():
        texts[intent] = list(dict.fromkeys([*texts.get(intent, []), *extra]))
    return {
        name: Intent.model_construct(
            name=name, description=f"Imported from {path.name}.", team=None, examples=found
        )
        for name, found in texts.items()
    }


def write_import(result: ImportResult, root: Path, *, overwrite: bool = False) -> list[Path]:
    """Write imported entries under `root/entries` and add new intents to the catalogue."""
    intents_path = root / INTENTS_FILE
    known: dict[str, Intent] = {}
    if intents_path.exists():
        known, _ = load_intents(intents_path)
    problems = []
    new = {name: i for name, i in result.new_intents.items() if name not in known}
    for name, intent in new.items():
        if len(intent.examples) < MIN_INTENT_EXAMPLES:
            problems.append(
                f"intent {name}: {len(intent.examples)} example texts, the catalogue needs "
                f"{MIN_INTENT_EXAMPLES}: add it to {intents_path} first, or add phrasings"
            )
    targets = [root / ENTRIES_DIR / f"{entry.id}.md" for entry in result.entries]
    if not overwrite:
        problems += [f"{t}: exists (use --force to replace it)" for t in targets if t.exists()]
    ids = [entry.id for entry in result.entries]
    problems += [
        f"duplicate id {i} in the import" for i in sorted({i for i in ids if ids.count(i) > 1})
    ]
    if problems:
        raise KnowledgeError(problems, what=IMPORT_ERROR)
    (root / ENTRIES_DIR).mkdir(parents=True, exist_ok=True)
    for entry, target in zip(result.entries, targets, strict=True):
        target.write_text(render_entry(entry), encoding="utf-8")
    if new:
        _add_intents(intents_path, new)
    return targets


def _add_intents(path: Path, new: dict[str, Intent]) -> None:
    # Re-dumping would drop the file's comments: keep its leading comment block as it was.
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    data = (yaml.safe_load(text) if text else None) or {}
    intents = data.setdefault("intents", {})
    for name, intent in new.items():
        intents[name] = intent.model_dump(exclude={"name"}, exclude_none=True)
    body = yaml.safe_dump(data, sort_keys=False, width=100, allow_unicode=True)
    path.write_text(header + body, encoding="utf-8")
