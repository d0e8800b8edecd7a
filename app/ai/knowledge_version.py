"""Which version of the knowledge a process answers with, and how a change reaches every process.

The knowledge folder is the source of truth. Every process that answers texts (the web
process without a worker child, the embedded worker child, each `smsdesk worker` of the
scale-out mode) loads it once into its own memory (`AiModels`) and keeps answering from that
copy until the knowledge *version* changes:

    console save / `smsdesk kb sync`
        -> validate the whole folder (`load_knowledge`, the check `smsdesk kb check` runs)
        -> write the entry file atomically (temp file + rename)
        -> `bump(settings)`: write the folder's content fingerprint to
           `<data dir>/knowledge.version` (temp file + rename)

    every text, in every answering process (`VersionStamp.changed`)
        -> one `os.stat` of that file (about 2 microseconds; no interval, no clock):
           same inode and mtime as last time -> answer with the loaded knowledge
        -> else read the fingerprint; differs from the loaded one -> reload before answering

A reload (`AiModels.with_knowledge`) is incremental: it diffs the old and the new entries by
content hash, re-encodes only added or changed entries and upserts/deletes just their
documents in chromadb (by entry id), rebuilds the in-memory search copy, and retrains the
intent classifier only when its training data changed (phrasings, questions, examples).
An answer-only edit costs tens of milliseconds, paid once by the first text after it.

Concurrency: each process keeps its own in-memory state, keyed by the fingerprint it loaded,
and swaps it whole under a lock (a text in flight finishes on the copy it started with). Two
processes reloading the same change upsert the same documents with the same vectors, which is
idempotent, and each re-encodes the changed entries itself, so none depends on another
process's write having landed. A hand edit of the folder is picked up after `smsdesk kb sync`
(which validates first), never half-written: a stamp is only written for a folder that passed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from app.ai.knowledge import ENTRIES_DIR, INTENTS_FILE
from app.config import Settings

STAMP_FILE = "knowledge.version"
_OTHER_FILES = (INTENTS_FILE, "out_of_scope.yaml")


def knowledge_files(root: Path) -> list[Path]:
    """Every file whose content the AI layer loads from a knowledge folder."""
    files = [root / name for name in _OTHER_FILES if (root / name).is_file()]
    return files + sorted((root / ENTRIES_DIR).rglob("*.md"))


def fingerprint(root: Path) -> str:
    """A digest of the folder's content (names and bytes): equal folders, equal fingerprints."""
    digest = hashlib.sha256()
    for file in knowledge_files(root):
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one rename: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def stamp_path(settings: Settings) -> Path:
    """Where the announced knowledge version lives (the data dir, not the content folder)."""
    return settings.data_dir / STAMP_FILE


def bump(settings: Settings) -> str:
    """Announce the knowledge folder's current content to every answering process."""
    current = fingerprint(settings.knowledge_dir)
    write_atomically(stamp_path(settings), current + "\n")
    return current


@dataclass
class VersionStamp:
    """The announced version as one process sees it, checked with a single `stat`."""

    path: Path
    _seen: tuple[int, int, int] | None = None
    _value: str | None = None

    def announced(self) -> str | None:
        """The announced fingerprint (None before any announcement); re-read only when the
        file was replaced since the last call."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        seen = (info.st_ino, info.st_mtime_ns, info.st_size)
        if seen != self._seen:
            try:
                self._value = self.path.read_text(encoding="utf-8").strip() or None
            except FileNotFoundError:
                return None
            self._seen = seen
        return self._value
