"""The customer's profile beside the conversation in the console, through the real app: the
records of the conversation's own brand and number, earlier conversations the agent may see,
a clear line when there is no record or the customer system is down, and no inline script."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.context.importer import COLUMNS, import_csv
from app.errors import ContextUnavailable
from app.storage.tables import Conversation, HandoffItem
from tests.console.conftest import MakeAgent, app_engine, login
from tests.console.test_pages import text_in

MAYA = "+12125550123"
RECORDS = f"""{",".join(COLUMNS)}
customer,{MAYA},Maya Chen,en,maya@example.com,,,,,,,,,,,,
order,{MAYA},,,,AC10442,shipped,trail runners,2026-03-08T14:00:00Z,https://track.example.com/AC10442,UPS,2026-03-12,,,,,
appointment,{MAYA},,,,AP7,booked,,,,,,bike fit,2026-03-11T10:00:00-04:00,Acme Downtown,,
subscription,{MAYA},,,,,active,,,,,,,,,Acme Club Yearly,2026-04-01
"""


def conversation_of(client: TestClient, phone: str, brand: str = "default") -> uuid.UUID:
    with Session(app_engine(client)) as session:
        found = session.exec(
            select(Conversation).where(
                Conversation.phone_e164 == phone, Conversation.brand == brand
            )
        ).one()
        return found.id


def import_records(client: TestClient, tmp_path: Path, brand: str = "default") -> None:
    path = tmp_path / f"{brand}.csv"
    path.write_text(RECORDS, encoding="utf-8")
    import_csv(app_engine(client), path, brand=brand)


def side_panel(page: str) -> str:
    return page[page.index('id="customer-profile"') : page.index("<h2>Consent</h2>")]


def test_the_profile_shows_the_customers_own_records(
    client: TestClient, make_agent: MakeAgent, tmp_path: Path
) -> None:
    import_records(client, tmp_path)
    make_agent("ana@example.com", brands=("default",))
    login(client, "ana@example.com")
    text_in(client, "hi, question about my order", phone=MAYA)
    page = client.get(f"/console/conversations/{conversation_of(client, MAYA)}")
    assert page.status_code == 200
    panel = side_panel(page.text)
    for shown in ("Maya Chen", "maya@example.com", "AC10442", "shipped", "trail runners",
                  "https://track.example.com/AC10442", "bike fit", "Acme Downtown",
                  "Acme Club Yearly", "renews 2026-04-01"):  # fmt: skip
        assert shown in panel, shown
    # The strict CSP holds: scripts only from files, none inline.
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text)


def test_no_record_and_another_brands_records_are_not_shown(
    client: TestClient, make_agent: MakeAgent, tmp_path: Path
) -> None:
    import_records(client, tmp_path, brand="other")  # Maya is a customer of another brand only
    make_agent("ana@example.com", brands=("default",))
    login(client, "ana@example.com")
    text_in(client, "hello?", phone=MAYA)
    panel = side_panel(client.get(f"/console/conversations/{conversation_of(client, MAYA)}").text)
    assert "No customer record for this number." in panel
    assert "Maya Chen" not in panel and "AC10442" not in panel


def test_past_conversations_link_to_what_the_agent_may_see(
    client: TestClient, make_agent: MakeAgent, tmp_path: Path
) -> None:
    make_agent("ana@example.com", brands=("default",))
    make_agent("root@example.com", role="admin", brands=())
    text_in(client, "first question", phone=MAYA)
    current = conversation_of(client, MAYA)
    engine = app_engine(client)
    with Session(engine) as session:
        item = session.exec(select(HandoffItem)).one()
        item.status, item.outcome = "resolved", "resolved"
        session.add(item)
        other = Conversation(brand="secret", phone_e164=MAYA, created_at=datetime.now(UTC))
        session.add(other)
        session.commit()
        other_id = other.id
    login(client, "ana@example.com")
    panel = side_panel(client.get(f"/console/conversations/{current}").text)
    assert f'href="/console/conversations/{current}?history=all"' in panel
    assert str(other_id) not in panel and "secret" not in panel  # not one of Ana's brands
    client.cookies.clear()
    login(client, "root@example.com")
    panel = side_panel(client.get(f"/console/conversations/{current}").text)
    assert f'href="/console/conversations/{other_id}"' in panel and "brand secret" in panel


class _Down:
    name = "http"

    def customer(self, brand: str, phone: str) -> None:
        raise ContextUnavailable("the customer system did not answer: ConnectError")

    def covers(self, brand: str) -> bool:
        return True


def test_a_customer_system_that_is_down_shows_as_unavailable(
    client: TestClient, make_agent: MakeAgent
) -> None:
    client.app.state.runtime.context = _Down()  # type: ignore[attr-defined]
    make_agent("ana@example.com", brands=("default",))
    login(client, "ana@example.com")
    text_in(client, "hello?", phone=MAYA)
    page = client.get(f"/console/conversations/{conversation_of(client, MAYA)}")
    assert page.status_code == 200
    assert "customer records unavailable" in side_panel(page.text)
