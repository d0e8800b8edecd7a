"""Keyset paging of conversations: newest first, a cursor that stays right while rows arrive."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from app.errors import InvalidInput
from app.storage.tables import Conversation


class InvalidCursor(InvalidInput):
    """A paging cursor that this server did not hand out."""

    code = "invalid_cursor"


def encode_cursor(conversation: Conversation) -> str:
    """The opaque cursor that continues after `conversation`."""
    raw = f"{conversation.created_at.isoformat()}|{conversation.id.hex}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        created = datetime.fromisoformat(at)
        if created.tzinfo is None:
            raise ValueError("naive")
        return created, uuid.UUID(hex=ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("not a cursor from this API: use the one a page returned") from None


def conversations_page(
    session: Session,
    *,
    limit: int,
    phone: str | None = None,
    brands: Collection[str] | None = None,
    after: str | None = None,
) -> tuple[Sequence[Conversation], str | None]:
    """Up to `limit` conversations newest first (of one phone, of some brands), after the
    cursor `after`; and the cursor of the next page, or None on the last one."""
    query = select(Conversation)
    if phone is not None:
        query = query.where(Conversation.phone_e164 == phone)
    if brands is not None:
        query = query.where(col(Conversation.brand).in_(list(brands)))
    if after is not None:
        created, ident = _decode(after)
        query = query.where(
            or_(
                col(Conversation.created_at) < created,
                and_(col(Conversation.created_at) == created, col(Conversation.id) < ident),
            )
        )
    query = query.order_by(col(Conversation.created_at).desc(), col(Conversation.id).desc())
    rows = session.exec(query.limit(limit + 1)).all()
    page = rows[:limit]
    return page, (encode_cursor(page[-1]) if len(rows) > limit else None)
