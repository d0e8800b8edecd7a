"""Cancelling a number's unsent texts in the same commit as its opt-out (IN-2, TIME-3).

Called inside the transaction that appends the revocation to the ledger, under the number's
`contact_lock`: the opt-out and the cancellation become visible together, so no queued or
scheduled text can be picked up between the two.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from app.storage.messages import add_status
from app.storage.tables import Conversation, Message

UNSENT = ("queued", "scheduled", "sending")
"""`sending` too: under the contact lock no provider call for the number is in flight, so a
text in `sending` is waiting out a retry (or its worker died) and must not be tried again."""


def cancel_unsent(
    session: Session, *, brand: str, phone: str, reason: str, marketing_only: bool = False
) -> int:
    """Cancel every outbound text to (brand, phone) not handed to the provider yet; how many."""
    query = (
        select(Message)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(
            Conversation.brand == brand,
            Conversation.phone_e164 == phone,
            Message.direction == "outbound",
            col(Message.status).in_(UNSENT),
        )
    )
    if marketing_only:
        query = query.where(Message.category == "marketing")
    unsent = session.exec(query.with_for_update(of=Message)).all()
    for message in unsent:
        add_status(session, message, "cancelled", detail=reason)
    return len(unsent)
