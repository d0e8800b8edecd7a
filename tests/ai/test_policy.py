"""The escalation policy and the guardrails, on their own."""

from __future__ import annotations

import pytest

from app.ai.escalation import Signals, Thresholds, asks_for_person, escalation_reasons
from app.ai.guardrails import check_draft, check_grounded


@pytest.mark.parametrize(
    "text",
    ["agent", "Human please", "can I talk to someone", "I need a real person",
     "let me speak with a manager", "customer service rep pls", "call me back"],
)  # fmt: skip
def test_requests_for_a_person_are_recognised(text: str) -> None:
    assert asks_for_person(text)


@pytest.mark.parametrize(
    "text",
    ["where is my order", "is the travel agent discount still on", "what time do you open",
     "my person of contact moved"],
)  # fmt: skip
def test_ordinary_questions_are_not_requests_for_a_person(text: str) -> None:
    assert not asks_for_person(text)


CALM = Signals(confidence=0.9, out_of_scope=False, negative=0.1, retrieval_score=0.7)


def test_a_confident_calm_grounded_text_needs_nobody() -> None:
    assert escalation_reasons(CALM, Thresholds()) == ()


def test_reasons_come_most_urgent_first() -> None:
    signals = Signals(
        confidence=0.2,
        out_of_scope=False,
        negative=0.95,
        retrieval_score=0.1,
        safety_language=True,
        asked_for_person=True,
        rephrase_similarity=0.9,
    )
    assert escalation_reasons(signals, Thresholds()) == (
        "safety_language",
        "negative_sentiment",
        "asked_for_person",
        "repeated_failure",
        "low_confidence",
        "no_knowledge",
    )


def test_thresholds_are_configurable() -> None:
    strict = Thresholds(min_confidence=0.95, negative_sentiment=0.05)
    assert escalation_reasons(CALM, strict) == ("negative_sentiment", "low_confidence")


def test_grounding_accepts_facts_from_the_sources_and_names_invented_ones() -> None:
    source = "Basic tune-up $59, Full tune-up $119. Book at acme.com/book or call 1-800-555-0199."
    assert check_grounded("A basic tune-up is $59: acme.com/book", [source]).passed
    invented = check_grounded("A basic tune-up is $49 at acme.com/deals", [source])
    assert not invented.passed
    assert "49" in invented.detail and "acme.com/deals" in invented.detail


def test_content_rules_apply_to_drafts() -> None:
    checks = check_draft(
        "Text STOP to see our hours",
        sources=[],
        brand_name="Acme",
        first_message=True,
        opted_out=True,
        max_chars=320,
    )
    content = next(c for c in checks if c.name == "content")
    assert not content.passed and "KW-1" in content.detail and "MSG-2" in content.detail


def test_an_opted_out_customer_gets_no_promotion() -> None:
    (_, _, promotion) = check_draft(
        "Acme: our summer sale has 20% off helmets",
        sources=["summer sale 20% off helmets"],
        brand_name="Acme",
        first_message=False,
        opted_out=True,
        max_chars=320,
    )
    assert not promotion.passed
