"""The queue's search, filters and bulk actions, and the next item after a resolve, over HTTP
through the real app (pages, htmx actions and the JSON API)."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.storage.tables import AuditEntry, HandoffItem
from tests.console.conftest import MakeAgent, app_engine, login, queue_item


def htmx(csrf: str, current: str = "http://testserver/console/") -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": csrf, "HX-Current-URL": current}


def _item(client: TestClient, item_id: uuid.UUID) -> HandoffItem:
    with Session(app_engine(client)) as session:
        item = session.get(HandoffItem, item_id)
        assert item is not None
        return item


def _audit(client: TestClient, item_id: uuid.UUID) -> list[tuple[str, dict[str, object]]]:
    with Session(app_engine(client)) as session:
        rows = session.exec(
            select(AuditEntry).where(AuditEntry.target == str(item_id)).order_by(col(AuditEntry.id))
        ).all()
        return [(row.action, row.detail) for row in rows]


def test_the_queue_page_searches_filters_and_keeps_them_in_its_links(
    client: TestClient, make_agent: MakeAgent
) -> None:
    engine = app_engine(client)
    queue_item(engine, phone="+12125550101", reasons=("complaint",))
    queue_item(engine, phone="+12125550102", reasons=("no_knowledge",))
    make_agent("ana@example.com")
    login(client, "ana@example.com")

    page = client.get("/console/", params={"q": "(212) 555-0101"})
    assert page.status_code == 200
    assert "+12125550101" in page.text and "+12125550102" not in page.text
    # The live refresh and the tabs ask for the same search.
    assert 'hx-get="/console/partials/queue?q=%28212%29+555-0101"' in page.text
    assert 'href="/console/?view=mine&amp;q=%28212%29+555-0101"' in page.text
    # The conversation link carries it on, for the next item after a resolve.
    assert "?q=%28212%29+555-0101" in page.text
    partial = client.get("/console/partials/queue", params={"q": "555-0101"})
    assert "+12125550101" in partial.text and "+12125550102" not in partial.text

    by_reason = client.get("/console/", params={"reason": "no_knowledge"}).text
    assert "+12125550102" in by_reason and "+12125550101" not in by_reason
    nothing = client.get("/console/", params={"q": "nobody by this name"}).text
    assert 'id="queue-empty"' in nothing and "matches the search" in nothing
    assert 'href="/console/?view=all&amp;q=nobody+by+this+name"' in nothing


def test_a_bad_filter_value_is_named_not_a_server_error(
    client: TestClient, make_agent: MakeAgent
) -> None:
    make_agent("ana@example.com")
    login(client, "ana@example.com")
    cases = {
        "reason=bogus": "There is no reason &#39;bogus&#39;.",
        "team=nowhere": "There is no team &#39;nowhere&#39;; the teams are: ",
        "status=lost": "There is no status &#39;lost&#39;",
        "agent=42": "No such agent to filter by",
        f"agent={uuid.uuid4()}": "No such agent to filter by",
        "from=yesterday": "is not a date like 2026-12-04",
        "from=2026-12-05&to=2026-12-04": "The &#39;to&#39; date is before the &#39;from&#39; date.",
        "q=x": "Search for at least 2 characters.",
        "page=0": "The page must be a number from 1 to 1000.",
        "view=everything": "There is no &#39;everything&#39; tab",
    }
    for query, message in cases.items():
        page = client.get(f"/console/?{query}")
        assert page.status_code == 400, query
        assert 'id="filter-error"' in page.text and message in page.text, (query, page.text)
    api = client.get("/console/api/queue", params={"reason": "bogus"})
    assert api.status_code == 400
    assert api.json()["error"]["message"] == "there is no reason 'bogus'"


def test_the_api_lists_the_all_view_with_filters(client: TestClient, make_agent: MakeAgent) -> None:
    engine = app_engine(client)
    done = queue_item(engine, phone="+12125550101")
    waiting = queue_item(engine, phone="+12125550102")
    ana = make_agent("ana@example.com", role="supervisor")
    headers = {"X-CSRF-Token": login(client, "ana@example.com")}
    assert (
        client.post(
            f"/console/api/queue/{done}/resolve", json={"outcome": "resolved"}, headers=headers
        ).status_code
        == 200
    )
    everything = client.get("/console/api/queue", params={"view": "all"}).json()
    assert {row["id"] for row in everything} == {str(done), str(waiting)}
    resolved = client.get(
        "/console/api/queue", params={"view": "all", "status": "resolved", "agent": str(ana.id)}
    ).json()
    assert [row["id"] for row in resolved] == [str(done)]


def test_bulk_resolve_as_spam_reports_each_item(client: TestClient, make_agent: MakeAgent) -> None:
    engine = app_engine(client)
    first = queue_item(engine, phone="+12125550101")
    second = queue_item(engine, phone="+12125550102")
    gone = queue_item(engine, phone="+12125550103")
    make_agent("ann@example.com", role="supervisor")
    make_agent("sue@example.com", role="supervisor")
    ann = TestClient(client.app)
    ann_csrf = login(ann, "ann@example.com")
    ann.post(f"/console/items/{gone}/resolve", data={"outcome": "resolved"}, headers=htmx(ann_csrf))

    csrf = login(client, "sue@example.com")
    response = client.post(
        "/console/queue/bulk",
        data={"action": "spam", "item": [str(first), str(second), str(gone)]},
        headers=htmx(csrf),
    )
    assert response.status_code == 200 and response.headers["HX-Retarget"] == "#flash"
    assert (
        "2 resolved as spam, 1 skipped: +12125550103 was already resolved by ann." in response.text
    )
    assert "refresh" in response.headers["HX-Trigger"]
    assert [(_item(client, i).status, _item(client, i).outcome) for i in (first, second)] == [
        ("resolved", "spam"),
        ("resolved", "spam"),
    ]
    assert _item(client, gone).outcome == "resolved"
    assert [a for a, _ in _audit(client, first)] == ["queue.resolve"]
    assert _audit(client, first)[0][1]["outcome"] == "spam"
    assert [a for a, _ in _audit(client, gone)][-1] == "queue.resolve_refused"

    nothing = client.post("/console/queue/bulk", data={"action": "spam"}, headers=htmx(csrf))
    assert "Select at least one conversation first." in nothing.text


def test_an_agent_bulk_resolves_by_claiming_first_and_may_not_assign(
    client: TestClient, make_agent: MakeAgent
) -> None:
    engine = app_engine(client)
    mine = queue_item(engine, phone="+12125550101")
    theirs = queue_item(engine, phone="+12125550102")
    make_agent("bo@example.com")
    bo = TestClient(client.app)
    bo_csrf = login(bo, "bo@example.com")
    assert bo.post(f"/console/items/{theirs}/claim", headers=htmx(bo_csrf)).status_code == 204
    ana = make_agent("ana@example.com")
    csrf = login(client, "ana@example.com")
    headers = {"X-CSRF-Token": csrf}

    result = client.post(
        "/console/api/queue/bulk",
        json={"action": "spam", "item_ids": [str(mine), str(theirs)]},
        headers=headers,
    )
    assert result.status_code == 200
    body = result.json()
    assert body["done"] == 1 and body["skipped"] == 1
    assert body["summary"] == "1 resolved as spam, 1 skipped: +12125550102 is claimed by bo."
    assert [(r["result"], r["status"]) for r in body["results"]] == [
        ("ok", "resolved"),
        ("conflict", "claimed"),
    ]
    assert [a for a, _ in _audit(client, mine)] == ["queue.claim", "queue.resolve"]
    assert _item(client, mine).assigned_to == ana.id

    assign = client.post(
        "/console/api/queue/bulk",
        json={"action": "assign", "item_ids": [str(theirs)], "agent_id": str(ana.id)},
        headers=headers,
    )
    assert assign.status_code == 403
    assert "supervisors and admins" in assign.json()["error"]["message"]
    no_csrf = client.post(
        "/console/api/queue/bulk", json={"action": "spam", "item_ids": [str(theirs)]}
    )
    assert no_csrf.status_code == 403 and _item(client, theirs).status == "claimed"
    another_brand = queue_item(engine, brand="globex", phone="+12125550109")
    hidden = client.post(
        "/console/api/queue/bulk",
        json={"action": "spam", "item_ids": [str(another_brand)]},
        headers=headers,
    ).json()
    assert hidden["results"] == [
        {
            "id": str(another_brand),
            "result": "not_found",
            "status": None,
            "detail": "is not in your queue any more",
        }
    ]
    assert _item(client, another_brand).status == "open"


def test_a_supervisor_bulk_assigns_and_routes_waiting_items_to_a_team(
    client: TestClient, make_agent: MakeAgent
) -> None:
    engine = app_engine(client)
    one = queue_item(engine, phone="+12125550101")
    two = queue_item(engine, phone="+12125550102")
    bo = make_agent("bo@example.com")
    make_agent("sue@example.com", role="supervisor")
    headers = {"X-CSRF-Token": login(client, "sue@example.com")}

    routed = client.post(
        "/console/api/queue/bulk",
        json={"action": "transfer", "item_ids": [str(one), str(two)], "team": "billing"},
        headers=headers,
    ).json()
    assert routed["summary"] == "2 transferred to billing."
    assert {(_item(client, i).status, _item(client, i).team) for i in (one, two)} == {
        ("open", "billing")
    }
    unknown = client.post(
        "/console/api/queue/bulk",
        json={"action": "transfer", "item_ids": [str(one)], "team": "nowhere"},
        headers=headers,
    )
    assert unknown.status_code == 400 and "no team 'nowhere'" in unknown.json()["error"]["message"]

    assigned = client.post(
        "/console/queue/bulk",
        data={"action": "assign", "item": [str(one), str(two)], "agent_id": str(bo.id)},
        headers=htmx(headers["X-CSRF-Token"]),
    )
    assert "2 assigned to bo." in assigned.text
    assert {_item(client, i).assigned_to for i in (one, two)} == {bo.id}
    assert [a for a, _ in _audit(client, one)] == ["queue.transfer", "queue.assign"]


def test_resolving_on_a_conversation_page_goes_to_the_next_item_of_the_searched_queue(
    client: TestClient, make_agent: MakeAgent
) -> None:
    engine = app_engine(client)
    first = queue_item(engine, phone="+12125550101", reasons=("complaint",), age_minutes=20)
    queue_item(engine, phone="+12125550102", reasons=("no_knowledge",), age_minutes=30)
    second = queue_item(engine, phone="+12125550103", reasons=("complaint",), age_minutes=10)
    make_agent("sue@example.com", role="supervisor")
    csrf = login(client, "sue@example.com")
    conversation = _item(client, first).conversation_id
    here = f"http://testserver/console/conversations/{conversation}?reason=complaint"

    resolved = client.post(
        f"/console/items/{first}/resolve", data={"outcome": "spam"}, headers=htmx(csrf, here)
    )
    assert resolved.status_code == 204
    location = urlsplit(resolved.headers["HX-Location"])
    # The complaint queue's next item, not the older no_knowledge one.
    assert location.path == f"/console/conversations/{_item(client, second).conversation_id}"
    assert parse_qs(location.query) == {"reason": ["complaint"], "done": [str(first)]}
    page = client.get(resolved.headers["HX-Location"])
    assert "Resolved +12125550101 (spam). This is the next one in your queue." in page.text

    last = client.post(
        f"/console/items/{second}/resolve",
        data={"outcome": "resolved"},
        headers=htmx(csrf, f"http://testserver{resolved.headers['HX-Location']}"),
    )
    assert last.headers["HX-Location"] == f"/console/?reason=complaint&done={second}"
    queue = client.get(last.headers["HX-Location"])
    assert "Resolved +12125550103 (resolved). Nothing else waits for you." in queue.text
    # From the queue itself (bulk bar, API) nothing navigates.
    third = queue_item(engine, phone="+12125550104")
    api = client.post(
        f"/console/api/queue/{third}/resolve",
        json={"outcome": "resolved"},
        headers={"X-CSRF-Token": csrf},
    )
    assert api.status_code == 200 and "HX-Location" not in api.headers


def test_the_conversation_page_labels_its_action_bar(
    client: TestClient, make_agent: MakeAgent
) -> None:
    item = queue_item(app_engine(client))
    make_agent("sue@example.com", role="supervisor")
    csrf = login(client, "sue@example.com")
    client.post(f"/console/items/{item}/claim", headers=htmx(csrf))
    page = client.get(f"/console/conversations/{_item(client, item).conversation_id}").text
    for control, label in (
        ("outcome", "Outcome"),
        ("snooze-minutes", "Snooze for"),
        ("transfer-target", "Transfer to"),
        ("assign-agent", "Assign to"),
    ):
        assert f'<label for="{control}">{label}</label>' in page
        assert f'id="{control}"' in page


def test_a_long_queue_is_paged_and_claiming_keeps_the_search(
    client: TestClient, make_agent: MakeAgent
) -> None:
    engine = app_engine(client)
    items = [queue_item(engine, phone=f"+1212555{n:04d}", age_minutes=200 - n) for n in range(102)]
    make_agent("ana@example.com")
    csrf = login(client, "ana@example.com")

    first = client.get("/console/", params={"q": "+1212555"}).text
    assert first.count('name="item"') == 100
    assert "1–100 of 102" in first and 'href="/console/?q=%2B1212555&amp;page=2"' in first
    second = client.get("/console/", params={"q": "+1212555", "page": "2"}).text
    # The two that waited least, oldest first; a link back, none further.
    assert second.count('name="item"') == 2
    assert second.index("+12125550100") < second.index("+12125550101")
    assert 'id="page-prev"' in second and 'id="page-next"' not in second

    claimed = client.post(
        f"/console/items/{items[0]}/claim",
        headers=htmx(csrf, "http://testserver/console/?view=open&q=%2B1212555&status=open"),
    )
    conversation = _item(client, items[0]).conversation_id
    # The search travels with the conversation; the state filter does not.
    assert claimed.headers["HX-Location"] == f"/console/conversations/{conversation}?q=%2B1212555"
