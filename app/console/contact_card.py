"""The contact's profile card: what partials/contact_card.html needs, on the contact page and
beside a conversation (apart from the routes, so the conversation pages can use it too)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.handoff.contacts import MAX_NAME, MAX_NOTES, ContactSummary
from app.storage.tables import Agent


def contact_url(contact: ContactSummary) -> str:
    """Where the contact's page is."""
    return f"/console/contacts/{contact.brand}/{contact.phone}"


def card_context(db: Session, contact: ContactSummary, *, editing: bool = False) -> dict[str, Any]:
    """What partials/contact_card.html needs (on the contact page and beside a conversation)."""
    profile = contact.profile
    editor = db.get(Agent, profile.updated_by) if profile and profile.updated_by else None
    return {
        "contact": contact,
        "contact_url": contact_url(contact),
        "editing": editing,
        "edited_by": editor.display_name if editor else None,
        "max_name": MAX_NAME,
        "max_notes": MAX_NOTES,
    }
