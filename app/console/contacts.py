"""The console's contacts: the Contacts page (search by number, name or tag), one contact's
page (profile, conversations, consent history), the profile card the conversation page edits
inline, and the JSON API under /console/api/contacts.

Every agent may read and edit the contacts of their own brands (admins: every brand); a
contact of another brand is a 404, as a conversation is. Every edit is audited with what
changed (`contact.updated`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from app.api.deps import RuntimeDep
from app.console.actions import flash
from app.console.contact_card import card_context
from app.console.deps import (
    ConsoleContext,
    ConsoleContextDep,
    CurrentAgent,
    DbSession,
    PageContextDep,
    RequireSession,
)
from app.console.profile import customer_profile, past_conversations
from app.console.templating import render, sentence
from app.handoff.contacts import (
    MAX_NAME,
    MAX_NOTES,
    MAX_QUERY,
    ContactConflict,
    ContactError,
    ContactSummary,
    audit_detail,
    contact_key,
    find_contact,
    read_query,
    search_contacts,
    split_tags,
    update_contact,
)
from app.storage.tables import Agent

router = APIRouter(prefix="/console", include_in_schema=False)
api = APIRouter(prefix="/console/api", tags=["console"], dependencies=[RequireSession])

CONSENT_HIDDEN = frozenset({"message_sent"})
"""Ledger events that are not consent facts (the side panel leaves them out too)."""


def _visible(db: Session, agent: Agent, brand: str, phone: str) -> ContactSummary:
    contact = find_contact(db, agent=agent, brand=brand, phone=phone)
    if contact is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such contact")
    return contact


@router.get("/contacts")
def contacts_page(
    request: Request,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    q: Annotated[str, Query(max_length=MAX_QUERY)] = "",
) -> Response:
    """Every contact of the agent's brands, or those matching the search."""
    return render(request, "contacts.html", _listing(runtime, console, db, q))


@router.get("/partials/contacts")
def contacts_partial(
    request: Request,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    q: Annotated[str, Query(max_length=MAX_QUERY)] = "",
) -> Response:
    """The contact list for the search as typed so far."""
    return render(request, "partials/contacts_list.html", _listing(runtime, console, db, q))


def _listing(runtime: RuntimeDep, console: ConsoleContext, db: Session, q: str) -> dict[str, Any]:
    error = None
    rows: list[ContactSummary] = []
    try:
        query = read_query(q, region=runtime.settings.phone_region)
    except ContactError as exc:
        error = sentence(exc)
    else:
        rows = search_contacts(db, agent=console.agent, query=query)
    return {"console": console, "section": "contacts", "q": q, "rows": rows, "error": error}


@router.get("/contacts/{brand}/{phone}")
def contact_page(
    request: Request, brand: str, phone: str, runtime: RuntimeDep, console: PageContextDep,
    db: DbSession,
) -> Response:  # fmt: skip
    """One contact: the editable profile, the customer context's records, every
    conversation and the consent history."""
    contact = _visible(db, console.agent, brand, phone)
    events = runtime.compliance.ledger.events(db, brand=brand, phone=contact.phone)
    records = customer_profile(
        db, context=runtime.context, agent=console.agent, conversation=contact.conversation
    )
    context = card_context(db, contact) | {
        "console": console,
        "section": "contacts",
        # The records partial of the conversation page; the conversations are listed apart.
        "profile": replace(records, past=[]),
        "v": {"conversation": contact.conversation},
        "past": past_conversations(
            db, agent=console.agent, conversation=contact.conversation, limit=None
        ),
        "consent": [e for e in reversed(events) if e.event_type not in CONSENT_HIDDEN],
    }
    return render(request, "contact.html", context)


@router.get("/partials/contacts/{brand}/{phone}/card")
def contact_card(
    request: Request, brand: str, phone: str, console: PageContextDep, db: DbSession,
    edit: bool = False,
) -> Response:  # fmt: skip
    """The contact's profile card, or its edit form (`edit=true`)."""
    contact = _visible(db, console.agent, brand, phone)
    context = card_context(db, contact, editing=edit) | {"console": console}
    return render(request, "partials/contact_card.html", context)


@router.post("/contacts/{brand}/{phone}")
def save_contact(
    request: Request,
    brand: str,
    phone: str,
    console: PageContextDep,
    db: DbSession,
    name: Annotated[str, Form(max_length=MAX_NAME * 2)] = "",
    notes: Annotated[str, Form(max_length=MAX_NOTES * 2)] = "",
    tags: Annotated[str, Form(max_length=1000)] = "",
    language: Annotated[str, Form(max_length=40)] = "",
    version: Annotated[int | None, Form(ge=0)] = None,
) -> Response:
    """Save the profile card's form; the card comes back showing what was saved."""
    contact = _visible(db, console.agent, brand, phone)
    try:
        change = update_contact(
            db,
            agent=console.agent,
            contact=contact,
            name=name,
            notes=notes,
            tags=split_tags(tags),
            language=language,
            version=version,
        )
    except ContactError as exc:
        return flash(request, sentence(exc))
    if change.changed:
        console.audit(db, "contact.updated", contact_key(change.contact.id), **audit_detail(change))
    saved = _visible(db, console.agent, brand, phone)
    return render(
        request,
        "partials/contact_card.html",
        card_context(db, saved) | {"console": console},
        headers={"HX-Trigger": "refresh"},
    )


# --- JSON API ------------------------------------------------------------------------------


class ContactPublic(BaseModel):
    """A contact as the API returns it."""

    brand: str
    phone: str
    name: str
    """The name shown: the agents' name, else the imported customer record's."""
    record_name: str
    tags: list[str]
    notes: str
    language: str | None
    conversation_id: str
    last_at: datetime
    updated_at: datetime | None
    updated_by: str | None
    version: int
    """Send it back with a change: a change based on an older version is refused (409)."""

    @classmethod
    def of(cls, contact: ContactSummary) -> ContactPublic:
        """The public view of a contact."""
        profile = contact.profile
        return cls(
            brand=contact.brand,
            phone=contact.phone,
            name=contact.name,
            record_name=contact.record_name,
            tags=contact.tags,
            notes=contact.notes,
            language=contact.language or None,
            conversation_id=str(contact.conversation.id),
            last_at=contact.last_at,
            updated_at=profile.updated_at if profile else None,
            updated_by=str(profile.updated_by) if profile and profile.updated_by else None,
            version=profile.version if profile else 0,
        )


class ContactUpdate(BaseModel):
    """The fields to change (the others are kept); `version` refuses to overwrite a newer edit."""

    name: str | None = Field(default=None, max_length=MAX_NAME * 2)
    notes: str | None = Field(default=None, max_length=MAX_NOTES * 2)
    tags: list[str] | None = Field(default=None, max_length=100)
    language: str | None = Field(default=None, max_length=40)
    version: int | None = Field(default=None, ge=0)
    """The contact's `version` the change was based on (409 when it changed since)."""


@api.get("/contacts", response_model=list[ContactPublic])
def list_contacts(
    runtime: RuntimeDep,
    agent: CurrentAgent,
    db: DbSession,
    q: Annotated[str, Query(max_length=MAX_QUERY)] = "",
) -> list[ContactPublic]:
    """Contacts of the agent's brands matching `q` (a number, `#tag` or a name)."""
    query = read_query(q, region=runtime.settings.phone_region)  # ContactError: a 400
    return [ContactPublic.of(c) for c in search_contacts(db, agent=agent, query=query)]


@api.get("/contacts/{brand}/{phone}", response_model=ContactPublic)
def get_contact(brand: str, phone: str, agent: CurrentAgent, db: DbSession) -> ContactPublic:
    """One contact of the agent's brands (404 otherwise)."""
    return ContactPublic.of(_visible(db, agent, brand, phone))


@api.patch("/contacts/{brand}/{phone}", response_model=ContactPublic)
def patch_contact(
    brand: str, phone: str, body: ContactUpdate, context: ConsoleContextDep, db: DbSession
) -> ContactPublic:
    """Change a contact's name, notes, tags or language (audited); 400 for a bad value, 409
    when `version` is not the contact's version any more."""
    contact = _visible(db, context.agent, brand, phone)
    try:
        change = update_contact(
            db,
            agent=context.agent,
            contact=contact,
            **body.model_dump(exclude_unset=True),
        )
    except ContactConflict as exc:  # other ContactErrors are a 400 like any bad input
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail={"code": exc.code, "message": str(exc)}
        ) from None
    if change.changed:
        context.audit(db, "contact.updated", contact_key(change.contact.id), **audit_detail(change))
    return ContactPublic.of(_visible(db, context.agent, brand, phone))
