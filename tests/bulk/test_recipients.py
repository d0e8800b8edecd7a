"""Reading a bulk send's recipients: every problem named with its line; nothing half-checked."""

from __future__ import annotations

from app.campaigns.recipients import read_csv, read_json
from tests.bulk.conftest import LEADS, PICKUP, csv_of


def test_a_good_csv_gives_e164_numbers_and_the_flows_variables() -> None:
    text = csv_of([("+12125550123", "Ana", "Main St"), ("(415) 555-0134", "Bo", "Pier 3")])
    result = read_csv(text, PICKUP)
    assert result.problems == ()
    assert [(r.line, r.phone, r.variables) for r in result.recipients] == [
        (2, "+12125550123", {"name": "Ana", "store": "Main St"}),
        (3, "+14155550134", {"name": "Bo", "store": "Pier 3"}),  # a bare number is a US one
    ]


def test_each_bad_line_is_reported_with_its_line_number() -> None:
    text = csv_of(
        [
            ("+12125550123", "Ana", "Main St"),
            ("not-a-number", "Bo", "Pier 3"),
            ("+1212555012", "Cy", "Pier 3"),  # one digit short: not a valid number
            ("+14155550134", "", "Pier 3"),
            ("+1 212 555 0123", "Ana again", "Main St"),
            ("+14155550199", "Dee"),
        ]
    )
    result = read_csv(text, PICKUP)
    assert [(p.line, p.kind) for p in result.problems] == [
        (3, "bad_phone"),
        (4, "bad_phone"),
        (5, "missing_variable"),
        (6, "duplicate"),
        (7, "bad_row"),
    ]
    assert "already on line 2" in result.problems[3].message
    assert "name" in result.problems[2].message
    assert [r.line for r in result.recipients] == [2]


def test_the_header_must_name_phone_and_every_variable_and_nothing_else() -> None:
    result = read_csv("phone,nmae,store\n+12125550123,Ana,Main St\n", PICKUP)
    assert [(p.line, p.kind) for p in result.problems] == [
        (1, "missing_variable"),
        (1, "unknown_column"),
    ]
    assert "nmae" in str(result.problems[1]) and "name, store" in str(result.problems[1])
    assert read_csv("", PICKUP).problems[0].kind == "empty"
    assert read_csv("phone,name,store\n\n", PICKUP).problems[0].kind == "empty"


def test_a_json_list_is_checked_the_same_way_with_positions_as_lines() -> None:
    items: list[dict[str, object]] = [
        {"phone": "+12125550123", "name": "Ana"},
        {"phone": "+12125550123", "name": "Ana"},
        {"phone": "+14155550134", "name": "Bo", "colour": "red"},
        {"phone": "+14155550135"},
    ]
    result = read_json(items, LEADS)
    assert [(p.line, p.kind) for p in result.problems] == [
        (2, "duplicate"),
        (3, "unknown_column"),
        (4, "missing_variable"),
    ]
    assert [r.phone for r in result.recipients] == ["+12125550123"]
