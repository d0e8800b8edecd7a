"""The Knowledge pages through the real app: reading, searching, adding and editing entries
with `smsdesk kb check`'s validation, who may edit, and entries beside the AI's view."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.ai.knowledge import load_knowledge
from app.ai.knowledge_version import fingerprint, stamp_path
from app.config import Settings
from app.storage.messages import now
from app.storage.tables import AiDecision, AuditEntry, Conversation, Message
from tests.conftest import REPO
from tests.console.conftest import MakeAgent, app_engine, login

NEW_ANSWER = "Acme stores are open every day 7am to 10pm, local time."


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A copy of the demo knowledge the app may edit."""
    shutil.copytree(REPO / "knowledge", tmp_path / "knowledge")
    return Settings(
        data_dir=tmp_path / "data", env="test", bot="off", knowledge_dir=tmp_path / "knowledge"
    )


def entry_form(settings: Settings, entry_id: str, **changes: str | list[str]) -> dict[str, object]:
    """The edit form of a stored entry, as the browser posts it, with `changes`."""
    entry = load_knowledge(settings.knowledge_dir).entry(entry_id)
    form: dict[str, object] = {
        "id": entry.id,
        "intent": entry.intent,
        "question": entry.question,
        "phrasings": "\n".join(entry.phrasings),
        "answer": entry.answer,
        "link": entry.link or "",
        "team": entry.team or "",
        "answer_es": entry.answer_es or "",
        "handoff_when_given": list(entry.handoff_when_given),
        "body": entry.body,
    }
    return form | changes


def audits(client: TestClient, action: str) -> list[AuditEntry]:
    with Session(app_engine(client)) as session:
        return list(
            session.exec(
                select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id))
            )
        )


def entry_file(settings: Settings, name: str) -> Path:
    return settings.knowledge_dir / "entries" / f"{name}.md"


def test_the_list_searches_by_id_and_question(client: TestClient, make_agent: MakeAgent) -> None:
    make_agent("ann@acme.test", role="admin")
    login(client, "ann@acme.test")
    page = client.get("/console/knowledge")
    assert page.status_code == 200
    assert 'id="kb-store-hours"' in page.text and 'id="kb-cancel-order"' in page.text
    found = client.get("/console/knowledge", params={"q": "store hours"}).text
    assert 'id="kb-store-hours"' in found and 'id="kb-cancel-order"' not in found
    by_id = client.get("/console/knowledge", params={"q": "CANCEL-ORD"}).text
    assert 'id="kb-cancel-order"' in by_id and 'id="kb-store-hours"' not in by_id
    assert "No entry matches" in client.get("/console/knowledge", params={"q": "zzz"}).text


def test_an_admin_edit_with_problems_is_refused_field_by_field_and_writes_nothing(
    client: TestClient, make_agent: MakeAgent, settings: Settings
) -> None:
    make_agent("ann@acme.test", role="admin")
    token = login(client, "ann@acme.test")
    before = entry_file(settings, "store-hours").read_bytes()
    form = entry_form(
        settings,
        "store-hours",
        answer="Text STOP for hours \u201cnow\u201d " + "x" * 300,
        intent="no_such_intent",
    )
    page = client.post("/console/knowledge/store-hours", data=form, headers={"X-CSRF-Token": token})
    assert page.status_code == 200
    assert 'id="kb-refused"' in page.text
    answer_errors = page.text.split('id="kb-answer"')[1].split("<label")[0]
    assert "the limit is 320" in answer_errors
    assert "characters outside GSM-7" in answer_errors
    assert "reserved keyword STOP" in answer_errors
    assert entry_file(settings, "store-hours").read_bytes() == before
    assert not stamp_path(settings).exists()
    refused = audits(client, "knowledge.save_refused")
    assert [(a.target, a.detail["fields"]) for a in refused] == [("store-hours", ["answer"])]

    # Once the answer is fine, the unknown intent is what `kb check` reports.
    form["answer"] = NEW_ANSWER
    page = client.post("/console/knowledge/store-hours", data=form, headers={"X-CSRF-Token": token})
    intent_errors = page.text.split('id="kb-intent"')[1].split("<label")[0]
    assert "unknown intent no_such_intent" in intent_errors
    assert entry_file(settings, "store-hours").read_bytes() == before


def test_an_admin_edit_is_written_announced_and_audited(
    client: TestClient, make_agent: MakeAgent, settings: Settings
) -> None:
    make_agent("ann@acme.test", role="admin")
    token = login(client, "ann@acme.test")
    form = entry_form(settings, "store-hours", answer=NEW_ANSWER, body="Ask the store first.")
    page = client.post("/console/knowledge/store-hours", data=form, headers={"X-CSRF-Token": token})
    assert 'id="kb-notice"' in page.text and "Saved store-hours" in page.text
    entry = load_knowledge(settings.knowledge_dir).entry("store-hours")
    assert (entry.answer, entry.body) == (NEW_ANSWER, "Ask the store first.")
    assert entry.phrasings == load_knowledge(REPO / "knowledge").entry("store-hours").phrasings
    # Every answering process sees the new version announced (app.ai.knowledge_version).
    assert stamp_path(settings).read_text().strip() == fingerprint(settings.knowledge_dir)
    assert [a.target for a in audits(client, "knowledge.entry_edited")] == ["store-hours"]
    assert not list((settings.knowledge_dir / "entries").glob(".*.tmp"))  # no temp file left
    shown = client.get("/console/knowledge/store-hours").text
    assert NEW_ANSWER in shown and "Ask the store first." in shown


def test_an_admin_adds_an_entry_and_cannot_reuse_an_id(
    client: TestClient, make_agent: MakeAgent, settings: Settings
) -> None:
    make_agent("ann@acme.test", role="admin")
    token = login(client, "ann@acme.test")
    assert 'id="kb-form"' in client.get("/console/knowledge/new").text
    form = {
        "id": "kayak-rental",
        "intent": "product_availability",
        "question": "Do you rent kayaks?",
        "phrasings": "do you rent kayaks\r\nkayak rental\r\n",
        "answer": "Yes: kayaks rent for $40 a day at 6 Acme stores.",
        "link": "https://acme.com/rentals",
        "handoff_when_given": ["date"],
        "body": "Life jackets are included.",
    }
    page = client.post("/console/knowledge/new", data=form, headers={"X-CSRF-Token": token})
    assert "Added kayak-rental" in page.text, page.text
    added = load_knowledge(settings.knowledge_dir).entry("kayak-rental")
    assert added.phrasings == ["do you rent kayaks", "kayak rental"]
    assert added.handoff_when_given == ["date"]
    assert added.sms_reply() == "Yes: kayaks rent for $40 a day at 6 Acme stores. acme.com/rentals"
    assert [a.target for a in audits(client, "knowledge.entry_created")] == ["kayak-rental"]

    again = client.post(
        "/console/knowledge/new",
        data=form | {"id": "store-hours"},
        headers={"X-CSRF-Token": token},
    )
    assert "an entry with id store-hours already exists" in again.text
    bad_id = client.post(
        "/console/knowledge/new", data=form | {"id": "../oops"}, headers={"X-CSRF-Token": token}
    )
    assert 'id="error-id"' in bad_id.text
    assert not (settings.knowledge_dir / "oops.md").exists()


def test_agents_read_entries_but_only_admins_edit(
    client: TestClient, make_agent: MakeAgent, settings: Settings
) -> None:
    make_agent("sam@acme.test", role="supervisor")
    token = login(client, "sam@acme.test")
    page = client.get("/console/knowledge/store-hours")
    assert page.status_code == 200 and 'id="kb-body"' in page.text
    assert 'id="kb-form"' not in page.text and 'id="kb-new"' not in page.text
    assert client.get("/console/knowledge/new").status_code == 403
    before = entry_file(settings, "store-hours").read_bytes()
    form = entry_form(settings, "store-hours", answer=NEW_ANSWER)
    refused = client.post(
        "/console/knowledge/store-hours", data=form, headers={"X-CSRF-Token": token}
    )
    assert refused.status_code == 403
    assert entry_file(settings, "store-hours").read_bytes() == before
    assert client.get("/console/knowledge/no-such-entry").status_code == 404


def test_an_edit_without_the_csrf_token_is_refused(
    client: TestClient, make_agent: MakeAgent, settings: Settings
) -> None:
    make_agent("ann@acme.test", role="admin")
    login(client, "ann@acme.test")
    form = entry_form(settings, "store-hours", answer=NEW_ANSWER)
    assert client.post("/console/knowledge/store-hours", data=form).status_code == 403
    assert load_knowledge(settings.knowledge_dir).entry("store-hours").answer != NEW_ANSWER


def test_the_ai_view_shows_the_body_of_the_entries_it_retrieved(
    client: TestClient, make_agent: MakeAgent, settings: Settings
) -> None:
    make_agent("ann@acme.test", role="admin", brands=("default",))
    login(client, "ann@acme.test")
    with Session(app_engine(client)) as session:
        conversation = Conversation(brand="default", phone_e164="+12125550123", created_at=now())
        message = Message(
            conversation_id=conversation.id,
            direction="inbound",
            provider="console",
            body="r u open sunday",
            status="received",
            created_at=now(),
            updated_at=now(),
        )
        session.add(conversation)
        session.add(message)
        session.flush()
        session.add(
            AiDecision(
                message_id=message.id,
                conversation_id=conversation.id,
                action="reply",
                intent="store_hours",
                confidence=0.93,
                record={
                    "decision": "reply",
                    "entries": ["store-hours"],
                    "retrieved": [
                        {"entry_id": "store-hours", "score": 0.91, "link": None},
                        {"entry_id": "gone-entry", "score": 0.41, "link": None},
                    ],
                },
                created_at=now(),
            )
        )
        session.commit()
        conversation_id: uuid.UUID = conversation.id
        message_id = message.id
    page = client.get(f"/console/conversations/{conversation_id}").text
    body = load_knowledge(settings.knowledge_dir).entry("store-hours").body
    hit = page.split(f'id="kb-hit-{message_id}-store-hours"')[1].split("</details>")[0]
    assert "answered from" in hit
    assert f"<p>{' '.join(body.split())}</p>" in hit  # the file's wrapping is not kept
    assert 'href="/console/knowledge/store-hours"' in hit
    assert "gone-entry · 0.41" in page and "no longer in the knowledge" in page
