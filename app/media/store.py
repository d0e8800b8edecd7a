"""What a picture must be, and where its bytes live.

Only pictures phones show are taken: JPEG, PNG, GIF and WebP, read from the bytes themselves
(the magic numbers), never from what a sender declared, so a file served back with its stored
type is what that type says. Files are named by their sha256 under the media directory: the
same picture sent twice is stored once, and a name never comes from outside.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from sqlmodel import Session, col, select

from app.clock import now
from app.errors import InvalidInput
from app.storage.tables import MessageMedia

MediaState = Literal["pending", "fetched", "failed"]
IMAGE_TYPES: dict[str, str] = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
}
ACCEPTED = "JPEG, PNG, GIF or WebP"


class MediaRejected(InvalidInput):
    """A picture smsdesk does not take (its type, its size); the message says why."""

    code = "media_rejected"


def sniff(data: bytes) -> str | None:
    """The picture type of `data` from its first bytes, None when it is none of ours."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def declared_ok(content_type: str) -> bool:
    """Whether a declared type (`image/png; charset=...` too) is one of the accepted ones."""
    return content_type.partition(";")[0].strip().lower() in IMAGE_TYPES


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A checked picture written under the media directory."""

    key: str
    content_type: str
    size: int
    sha256: str


def check(data: bytes, *, max_bytes: int) -> str:
    """The picture type of `data`; `MediaRejected` when it is too large or not a picture."""
    if len(data) > max_bytes:
        raise MediaRejected(f"the picture is {len(data):,} bytes; at most {max_bytes:,} are taken")
    if not data:
        raise MediaRejected("the file is empty")
    content_type = sniff(data)
    if content_type is None:
        raise MediaRejected(f"not a picture smsdesk takes ({ACCEPTED})")
    return content_type


def save(media_dir: Path, data: bytes, *, max_bytes: int) -> StoredFile:
    """Check `data` and write it (once per content) under `media_dir`."""
    content_type = check(data, max_bytes=max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    key = f"{digest[:2]}/{digest}.{IMAGE_TYPES[content_type]}"
    path = media_dir / key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: a reader never sees half a file.
        partial = path.with_name(f".{uuid.uuid4().hex}.part")
        partial.write_bytes(data)
        os.replace(partial, path)
    return StoredFile(key, content_type, len(data), digest)


_KEY = re.compile(r"[0-9a-f]{2}/([0-9a-f]{64})\.(?:jpg|png|gif|webp)")


def reuse(media_dir: Path, key: str, *, max_bytes: int) -> StoredFile:
    """A picture stored before, by its key (an agent confirming a scheduled send re-posts it);
    `MediaRejected` when the key is not one of ours."""
    match = _KEY.fullmatch(key)
    path = media_dir / key
    if match is None or not path.is_file():
        raise MediaRejected("that picture is no longer here: attach it again")
    return save(media_dir, path.read_bytes(), max_bytes=max_bytes)


def read_upload(stream: BinaryIO, *, max_bytes: int) -> bytes:
    """An uploaded file's bytes, read no further than one past the limit."""
    return stream.read(max_bytes + 1)


def path_of(media_dir: Path, media: MessageMedia) -> Path | None:
    """The file of a fetched picture (None when there is none, or it went missing)."""
    if media.state != "fetched" or not media.storage_key:
        return None
    path = media_dir / media.storage_key
    return path if path.is_file() else None


def mark_fetched(media: MessageMedia, stored: StoredFile) -> None:
    """Record a picture as stored."""
    media.state = "fetched"
    media.storage_key, media.content_type = stored.key, stored.content_type
    media.size, media.sha256 = stored.size, stored.sha256
    media.failure, media.fetched_at = None, now()


def mark_failed(media: MessageMedia, reason: str) -> None:
    """Record why a picture was not stored (the thread shows it to the agent)."""
    media.state, media.failure, media.fetched_at = "failed", reason[:500], now()


def attach(
    session: Session, *, message_id: uuid.UUID, position: int, stored: StoredFile
) -> MessageMedia:
    """Add an already stored picture to a message (an agent's or the simulator's upload)."""
    media = MessageMedia(
        message_id=message_id,
        position=position,
        content_type=stored.content_type,
        state="fetched",
        created_at=now(),
    )
    mark_fetched(media, stored)
    session.add(media)
    return media


def media_of(session: Session, message_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[MessageMedia]]:
    """The pictures of these messages, in order, by message (one query)."""
    found: dict[uuid.UUID, list[MessageMedia]] = {}
    if not message_ids:
        return found
    rows = session.exec(
        select(MessageMedia)
        .where(col(MessageMedia.message_id).in_(message_ids))
        .order_by(col(MessageMedia.message_id), col(MessageMedia.position))
    )
    for media in rows:
        found.setdefault(media.message_id, []).append(media)
    return found
