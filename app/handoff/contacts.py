"""Contacts: what agents know about a customer of one brand (name, notes, tags, language).

A contact is a (brand, number) the team has a conversation with; its profile row in
`contacts` exists once an agent has edited it. The public surface:

    read_query(text, region)            what the search box was given: a number, a tag, a name
    search_contacts(session, agent=...) the contacts the agent may see that match
    find_contact(session, agent=...)    one contact by brand and number (None: not visible)
    update_contact(session, ...)        validate and change a profile; says what changed
    contact_names(session, keys)        the name shown for each (brand, number), for other lists
    name_matches(pattern, escape=...)   a condition on conversations: their shown name matches

Data functions only: they raise `ContactError` (an `InvalidInput`) and never HTTP errors, and
leave committing (with the caller's audit entry) to the caller.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import phonenumbers
from sqlalchemy import String, and_, cast, func, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from app.errors import InvalidInput
from app.handoff.agents import can_see_brand
from app.storage.messages import now
from app.storage.tables import Agent, Contact, Conversation, CustomerRecord
from app.storage.types import lower_text

MAX_NAME = 100
MAX_NOTES = 2000
MAX_TAGS = 10
MAX_TAG = 24
MAX_QUERY = 100
SEARCH_LIMIT = 100
"""Rows a search lists: the most recently active first."""
_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})?$")
"""A BCP 47 tag as people write them: `en`, `es`, `pt-br`, `zh-hant`."""
_NUMBERISH = re.compile(r"^[+\d\s().\-]+$")

SearchKind = Literal["all", "number", "digits", "tag", "name"]
"""What a search looks for: everything, one number, numbers with these digits, a tag, a name."""


def _shown(agents_name: Any, records_name: Any) -> ColumnElement[str]:
    """The one rule for the name the console shows: the agents' name for the contact, else the
    name on the imported customer record (until an agent sets one), else "" (the number)."""
    return func.coalesce(func.nullif(agents_name, ""), records_name, "")


SHOWN_NAME = _shown(col(Contact.name), col(CustomerRecord.name))
"""The shown name in a query joining conversations with contacts and customers (`_base`)."""


def conversation_name() -> ColumnElement[str]:
    """The shown name of the `Conversation` row of the enclosing query (for other queries on
    conversations, such as the queue's search)."""
    same = (Conversation.brand, Conversation.phone_e164)

    def name_in(table: Any) -> Any:
        return (
            sa_select(table.name)
            .where(table.brand == same[0], table.phone_e164 == same[1])
            .correlate(Conversation)
            .scalar_subquery()
        )

    return _shown(name_in(Contact), name_in(CustomerRecord))


def name_matches(pattern: str, *, escape: str) -> ColumnElement[bool]:
    """The conversation's shown name matches the LIKE `pattern`, whatever the case."""
    return lower_text(conversation_name()).like(pattern.lower(), escape=escape)


class ContactError(InvalidInput):
    """A contact cannot be found or changed as asked (the message says why)."""

    code = "contact_error"


class ContactConflict(ContactError):
    """Someone else changed the contact since it was shown: reload before saving."""

    code = "contact_conflict"


@dataclass(frozen=True)
class ContactQuery:
    """What the search box was given, read once."""

    kind: SearchKind
    value: str = ""


@dataclass(frozen=True)
class ContactSummary:
    """One contact as lists and pages show it."""

    brand: str
    phone: str
    name: str
    """The name shown (`SHOWN_NAME`; "" when nobody named them)."""
    conversation: Conversation
    profile: Contact | None
    """The agents' profile row (None until someone edits it)."""
    record_name: str = ""
    """The name on the imported customer record, if any."""

    @property
    def tags(self) -> list[str]:
        """The contact's tags."""
        return list(self.profile.tags) if self.profile else []

    @property
    def notes(self) -> str:
        """The agents' notes about the contact."""
        return self.profile.notes if self.profile else ""

    @property
    def language(self) -> str:
        """The language agents set ("" for none)."""
        return (self.profile.language or "") if self.profile else ""

    @property
    def last_at(self) -> datetime:
        """When the customer last wrote (or the conversation began)."""
        return self.conversation.last_inbound_at or self.conversation.created_at


@dataclass(frozen=True)
class ContactChange:
    """A saved edit: the profile and, per changed field, what it was and is."""

    contact: Contact
    changed: dict[str, dict[str, Any]]


def normalise_tags(values: Iterable[str]) -> list[str]:
    """Tags as stored: trimmed, lower-case, spaces as `-`, a leading `#` dropped, no
    duplicates; ContactError for one too long or with other characters, or too many."""
    tags: list[str] = []
    for raw in values:
        tag = re.sub(r"\s+", "-", raw.strip().lstrip("#").strip().lower())
        if not tag:
            continue
        if len(tag) > MAX_TAG:
            raise ContactError(f"tag {tag!r} is longer than {MAX_TAG} characters")
        if not _TAG.match(tag):
            raise ContactError(
                f"tag {tag!r} may hold only letters, digits, - and _ (start with a letter or digit)"
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ContactError(f"a contact has at most {MAX_TAGS} tags, not {len(tags)}")
    return tags


def split_tags(text: str) -> list[str]:
    """The tags typed in one field, separated by commas."""
    return normalise_tags(text.split(","))


def normalise_language(value: str | None) -> str | None:
    """`es`, `pt-br`, ... (None when empty); ContactError for anything else."""
    code = (value or "").strip().lower().replace("_", "-")
    if not code:
        return None
    if not _LANGUAGE.match(code):
        raise ContactError(f"language {value!r:.40} is not a language code such as en, es, pt-br")
    return code


def _clean_name(value: str) -> str:
    name = " ".join(value.split())  # one line: it stands in for the number in headers
    if len(name) > MAX_NAME:
        raise ContactError(f"the name is longer than {MAX_NAME} characters")
    return name


def _clean_notes(value: str) -> str:
    notes = value.strip().replace("\r\n", "\n")
    if len(notes) > MAX_NOTES:
        raise ContactError(f"the notes are longer than {MAX_NOTES} characters ({len(notes)})")
    return notes


def read_query(text: str, *, region: str) -> ContactQuery:
    """`#vip` or `tag:vip` is a tag, something that reads as a phone number (in any format
    phonenumbers parses; national ones as of `region`) a number, a few digits part of one,
    anything else a name (or a tag of that word)."""
    query = text.strip()
    if len(query) > MAX_QUERY:
        raise ContactError(f"the search is longer than {MAX_QUERY} characters")
    if not query:
        return ContactQuery("all")
    if query.startswith("#") or query.lower().startswith("tag:"):
        tag = query[4:] if query.lower().startswith("tag:") else query
        found = normalise_tags([tag])
        if not found:
            raise ContactError("name the tag to search for, e.g. #vip")
        return ContactQuery("tag", found[0])
    digits = re.sub(r"\D", "", query)
    if _NUMBERISH.match(query) and digits:
        try:
            number = phonenumbers.parse(query, None if query.startswith("+") else region)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_possible_number(number):
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            return ContactQuery("number", e164)
        return ContactQuery("digits", digits)
    return ContactQuery("name", " ".join(query.split()).lower())


def _base() -> Any:
    """Conversations (one per brand and number) with their profile and customer record."""
    return (
        sa_select(Conversation, Contact, SHOWN_NAME.label("shown"), col(CustomerRecord.name))
        .outerjoin(
            Contact,
            and_(
                col(Contact.brand) == col(Conversation.brand),
                col(Contact.phone_e164) == col(Conversation.phone_e164),
            ),
        )
        .outerjoin(
            CustomerRecord,
            and_(
                col(CustomerRecord.brand) == col(Conversation.brand),
                col(CustomerRecord.phone_e164) == col(Conversation.phone_e164),
            ),
        )
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _has_tag(tag: str) -> ColumnElement[bool]:
    # Tags are stored as a JSON list of plain words (no quotes or escapes are possible), so
    # `"vip"` within its text is exactly membership, on SQLite and PostgreSQL alike.
    return cast(col(Contact.tags), String).like(_like(f'"{tag}"'), escape="\\")


def _matching(query: ContactQuery) -> ColumnElement[bool] | None:
    if query.kind == "number":
        return col(Conversation.phone_e164) == query.value
    if query.kind == "digits":
        return col(Conversation.phone_e164).like(_like(query.value), escape="\\")
    if query.kind == "tag":
        return _has_tag(query.value)
    if query.kind == "name":
        named = lower_text(SHOWN_NAME).like(_like(query.value), escape="\\")
        word = query.value.replace(" ", "-")
        return or_(named, _has_tag(word)) if _TAG.match(word) and len(word) <= MAX_TAG else named
    return None


def _summary(row: Any) -> ContactSummary:
    conversation, profile, shown, record_name = row
    return ContactSummary(
        brand=conversation.brand,
        phone=conversation.phone_e164,
        name=shown or "",
        conversation=conversation,
        profile=profile,
        record_name=record_name or "",
    )


def search_contacts(
    session: Session, *, agent: Agent, query: ContactQuery, limit: int = SEARCH_LIMIT
) -> list[ContactSummary]:
    """The contacts of the agent's brands matching `query`, most recently active first."""
    statement = _base()
    if agent.role != "admin":  # the same rule as can_see_brand, in SQL
        statement = statement.where(col(Conversation.brand).in_(agent.brands or [""]))
    condition = _matching(query)
    if condition is not None:
        statement = statement.where(condition)
    active = func.coalesce(col(Conversation.last_inbound_at), col(Conversation.created_at))
    statement = statement.order_by(active.desc(), col(Conversation.id)).limit(limit)
    return [_summary(row) for row in session.execute(statement).all()]


def find_contact(
    session: Session, *, agent: Agent, brand: str, phone: str
) -> ContactSummary | None:
    """The contact (brand, phone) if the agent may see the brand and it has a conversation."""
    if not can_see_brand(agent, brand):
        return None
    row = session.execute(
        _base().where(col(Conversation.brand) == brand, col(Conversation.phone_e164) == phone)
    ).first()
    return _summary(row) if row is not None else None


def contact_names(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The name shown for each (brand, number) that has one (`SHOWN_NAME`); numbers nobody
    named are left out. For lists that show numbers (the queue, its search)."""
    wanted = set(keys)
    if not wanted:
        return {}
    phones = {phone for _, phone in wanted}
    rows = session.execute(_base().where(col(Conversation.phone_e164).in_(phones))).all()
    names: dict[tuple[str, str], str] = {}
    for row in rows:
        summary = _summary(row)
        key = (summary.brand, summary.phone)
        if key in wanted and summary.name:
            names[key] = summary.name
    return names


def update_contact(
    session: Session,
    *,
    agent: Agent,
    contact: ContactSummary,
    name: str | None = None,
    notes: str | None = None,
    tags: Sequence[str] | None = None,
    language: str | None = None,
    version: int | None = None,
) -> ContactChange:
    """Change the given fields of the contact's profile (creating it on the first edit),
    uncommitted: the caller commits with its audit entry. `version` is the profile's version
    the agent's form was built from (0: no profile yet): an edit by someone else since then
    raises ContactConflict rather than being overwritten. ContactError for a bad value."""
    wanted: dict[str, Any] = {}
    if name is not None:
        wanted["name"] = _clean_name(name)
    if notes is not None:
        wanted["notes"] = _clean_notes(notes)
    if tags is not None:
        wanted["tags"] = normalise_tags(tags)
    if language is not None:
        wanted["language"] = normalise_language(language)
    profile = contact.profile
    if profile is not None:
        session.refresh(profile)  # the newest row, not the one read when the page was built
    current = profile.version if profile is not None else 0
    if version is not None and version != current:
        raise ContactConflict(_CHANGED_MEANWHILE)
    before = profile if profile is not None else Contact(brand="", phone_e164="", updated_at=now())
    changed = {
        field: {"from": getattr(before, field), "to": value}
        for field, value in wanted.items()
        if getattr(before, field) != value
    }
    if not changed:
        return ContactChange(before, {})
    stamp = {"updated_at": now(), "updated_by": agent.id, "version": current + 1}
    values = {field: change["to"] for field, change in changed.items()} | stamp
    try:
        if profile is None:
            profile = Contact(brand=contact.brand, phone_e164=contact.phone, **values)
            session.add(profile)
            session.flush()
        else:
            # Conditional on the version just read: of two agents saving at once, one wins.
            saved = session.execute(
                update(Contact)
                .where(col(Contact.id) == profile.id, col(Contact.version) == current)
                .values(**values)
            )
            if saved.rowcount != 1:  # type: ignore[attr-defined]
                raise ContactConflict(_CHANGED_MEANWHILE)
            session.refresh(profile)
    except (IntegrityError, ContactConflict) as exc:  # another agent's edit landed first
        session.rollback()
        raise ContactConflict(_CHANGED_MEANWHILE) from exc
    return ContactChange(profile, changed)


_CHANGED_MEANWHILE = (
    "someone else changed this contact meanwhile: reload it and make your edit again"
)


def audit_detail(change: ContactChange) -> dict[str, Any]:
    """What an audit entry keeps of an edit: the fields changed, and the old and new values
    of the short ones (notes are long and free text: only their lengths)."""
    detail: dict[str, Any] = {"changed": sorted(change.changed)}
    for field, values in change.changed.items():
        if field == "notes":
            detail["notes_chars"] = {"from": len(values["from"]), "to": len(values["to"])}
        else:
            detail[field] = values
    return detail


def contact_key(contact_id: uuid.UUID) -> str:
    """The audit log's target for a contact."""
    return f"contact:{contact_id}"
