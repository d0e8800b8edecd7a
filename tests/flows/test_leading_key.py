"""A numbered question answered the way people answer one: the number first, then why."""

from __future__ import annotations

import pytest

from app.flows.matching import exact_key, leading_key

RATING = ["1", "2", "3", "4", "5"]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("5 great service", "5"),
        ("2, they didn't fix the brakes", "2"),
        ("1 - weekday mornings", "1"),
        ("4 stars", "4"),
        ("dos por favor", "2"),
        ("4/5", "4"),
        ("10/10", "5"),
        ("3 out of 5", "3"),
    ],
)
def test_a_leading_choice_is_the_answer(text: str, key: str) -> None:
    assert leading_key(text, RATING) == key


@pytest.mark.parametrize(
    "text",
    [
        "2 days late and still nothing",
        "3:30 thursday",
        "2 pm works",
        "one sec",
        "1.5 stars",
        "7 great",
    ],
)
def test_a_number_that_counts_or_tells_the_time_is_no_choice(text: str) -> None:
    assert leading_key(text, RATING) is None


@pytest.mark.parametrize(
    ("text", "key"),
    [("the 3rd one pls", "3"), ("second option", "2"), ("la primera", "1"), ("1st", "1")],
)
def test_an_item_picked_by_its_place(text: str, key: str) -> None:
    assert exact_key(text, ["1", "2", "3", "4"]) == key


def test_a_place_outside_the_options_is_no_key() -> None:
    assert exact_key("the 5th one", ["1", "2", "3", "4"]) is None
