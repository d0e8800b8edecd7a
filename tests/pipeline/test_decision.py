"""The typed decisions (`app.pipeline.decision`): every reason's priority and group, and what a
hand-off derives from its reasons (queue priority, the acknowledgement's group, safety)."""

from __future__ import annotations

import pytest

from app.compliance.model import InboundDecision
from app.pipeline.decision import (
    DEFAULT_PRIORITY,
    Answer,
    Clarify,
    Close,
    Decided,
    Group,
    HandOff,
    Option,
    OptOut,
    Reason,
    Reply,
    Silent,
    priority_of,
)


@pytest.mark.parametrize(
    ("reason", "priority", "group"),
    [
        (Reason.safety, 0, Group.safety),
        (Reason.negative_sentiment, 10, Group.complaint),
        (Reason.complaint, 10, Group.complaint),
        (Reason.repeated_failure, 15, Group.complaint),
        (Reason.legal, 15, Group.legal),
        (Reason.fraud, 15, Group.fraud),
        (Reason.asked_for_person, 20, Group.person),
        (Reason.account_specific, 30, Group.account),
        (Reason.compliance_handoff, 30, Group.compliance),
        (Reason.possible_revocation, 30, Group.compliance),
        (Reason.opted_out, 30, Group.compliance),
        (Reason.guardrail_failed, 40, Group.system),
        (Reason.responder_error, 40, Group.system),
        (Reason.bot_disabled, DEFAULT_PRIORITY, Group.system),
        (Reason.no_knowledge, DEFAULT_PRIORITY, Group.unanswerable),
        (Reason.low_confidence, DEFAULT_PRIORITY, Group.unanswerable),
        (Reason.out_of_scope, DEFAULT_PRIORITY, Group.unanswerable),
        (Reason.not_answerable, DEFAULT_PRIORITY, Group.unanswerable),
        (Reason.no_language, DEFAULT_PRIORITY, Group.unanswerable),
        (Reason.llm_needs_human, DEFAULT_PRIORITY, Group.unanswerable),
    ],
)
def test_each_reason_carries_its_priority_and_group(
    reason: Reason, priority: int, group: Group
) -> None:
    assert (reason.priority, reason.group) == (priority, group)


def test_every_reason_has_a_priority_a_group_and_a_label() -> None:
    for reason in Reason:
        assert 0 <= reason.priority <= DEFAULT_PRIORITY
        assert isinstance(reason.group, Group)
        assert reason.label and "_" not in reason.label
    assert Reason.safety.priority < min(r.priority for r in Reason if r is not Reason.safety)


def test_stored_values_are_what_the_queue_and_the_console_keep() -> None:
    assert Reason.safety.value == "safety_language"  # the value stored before the enum
    assert Reason.parse("asked_for_person") is Reason.asked_for_person
    assert Reason.parse("safety_language") is Reason.safety
    assert Reason.parse("a_reason_no_longer_used") is None
    assert Reason.asked_for_person.label == "asked for a person"


def test_the_most_urgent_reason_sets_the_priority() -> None:
    assert priority_of([Reason.no_knowledge, Reason.asked_for_person]) == 20
    assert priority_of(["asked_for_person", "safety_language"]) == 0  # stored strings
    assert priority_of(["something_old", "legal"]) == 15  # unknown values are skipped
    assert priority_of(["something_old"]) == DEFAULT_PRIORITY
    assert priority_of([]) == DEFAULT_PRIORITY


def test_a_handoff_reads_its_reasons() -> None:
    person = HandOff((Reason.no_knowledge, Reason.asked_for_person), team="stores")
    assert (person.priority, person.group, person.safety) == (20, Group.person, False)
    angry = HandOff((Reason.asked_for_person, Reason.negative_sentiment))
    assert (angry.priority, angry.group) == (10, Group.complaint)  # the most urgent words it
    danger = HandOff((Reason.asked_for_person, Reason.safety))
    assert (danger.priority, danger.group, danger.safety) == (0, Group.safety, True)
    disabled = HandOff((Reason.bot_disabled,))
    assert (disabled.priority, disabled.group, disabled.safety) == (50, Group.system, False)
    assert (disabled.team, disabled.language, disabled.draft) == (None, "en", None)


def test_a_tie_goes_to_the_first_reason() -> None:
    assert HandOff((Reason.legal, Reason.fraud)).group is Group.legal
    assert HandOff((Reason.fraud, Reason.legal)).group is Group.fraud


def test_each_decision_has_its_kind() -> None:
    opt_out = InboundDecision(
        action="opt_out", new_state="opted_out", state_changed=True, reply="opt_out_confirmation",
        forward_to_ai=False, keyword=None, phrase_id=None, match="phrase", reply_language="en",
        scope="all", handoff=False, safety_escalation=False, ambiguous=False, reply_policy=None,
        ruleset_version="test", normalised_text="stop",
    )  # fmt: skip
    reply = Reply((Answer("store-hours", "Open 9-9."), Answer("returns", "30 days.")))
    decisions = {
        "reply": reply,
        "clarify": Clarify((Option(1, "Store hours", "store-hours"),), "Which one?"),
        "close": Close(None),
        "handoff": HandOff((Reason.asked_for_person,)),
        "opt_out": OptOut(opt_out),
        "silent": Silent("an agent owns the conversation"),
    }
    for kind, decision in decisions.items():
        assert Decided(decision).kind == kind
    assert reply.entries == ("store-hours", "returns") and reply.language == "en"
    assert Decided(reply).record == {}
