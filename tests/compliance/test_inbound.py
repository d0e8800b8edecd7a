"""Unit tests of the inbound decision procedure, one group per rule of SPEC §5 and §6.

Examples are our own, not the public case file's. Where a rule only matters in combination
(guards, exclusions, prepositions, crisis suppression), the test also removes the rule from
the lexicon and checks that the same text then decides differently, so it can fail.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from app.compliance import inbound
from app.compliance.inbound import classify
from app.compliance.lexicon import lexicon
from app.compliance.model import (
    OPTED_OUT,
    SUBSCRIBED,
    ConsentState,
    InboundDecision,
    Policy,
)

CUTOFF = datetime(2027, 1, 31, tzinfo=UTC)
BEFORE_CUTOFF = datetime(2026, 9, 14, 15, 0, tzinfo=UTC)
AFTER_CUTOFF = datetime(2027, 3, 2, 15, 0, tzinfo=UTC)
POLICY = Policy(marketing_only_revocations_until=CUTOFF)
MARKETING_ONLY = ConsentState("opted_out", "marketing")


def decide(
    text: str,
    state: ConsentState = SUBSCRIBED,
    *,
    at: datetime = BEFORE_CUTOFF,
    policy: Policy = POLICY,
) -> InboundDecision:
    return classify(text, state=state, received_at=at, policy=policy)


@pytest.fixture
def lexicon_with(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Replace fields of the lexicon the classifier reads, for this test only."""

    def apply(**changes: Any) -> None:
        changed = dataclasses.replace(lexicon(), **changes)
        monkeypatch.setattr(inbound, "lexicon", lambda: changed)

    return apply


# §6 step 1: empty messages and the stop-sign emoji.


@pytest.mark.parametrize("body", ["", "    ", "\t\r\n", "\u200b\u2060", "👍", "😀🎉", "?!..."])
def test_empty_message_passes(body: str) -> None:
    d = decide(body)
    assert (d.action, d.match, d.forward_to_ai, d.reply) == ("pass", "none", True, None)


@pytest.mark.parametrize("body", ["🛑", " 🛑🛑 ", "🛑\ufe0f", "\u200b🛑"])
def test_stop_sign_emoji_alone_is_an_opt_out(body: str) -> None:
    d = decide(body)
    assert (d.action, d.match, d.scope) == ("opt_out", "emoji", "all")


def test_stop_sign_next_to_another_emoji_is_not_the_emoji_rule() -> None:
    assert decide("🛑👍").action == "pass"


# §6 Tier 1: the whole message is keywords.


@pytest.mark.parametrize(
    ("body", "keyword", "language"),
    [
        ("quit", "QUIT", "en"),
        ("Revoke!", "REVOKE", "en"),
        ("unsub", "UNSUB", "en"),
        ("stop now please", "STOP", "en"),
        ("thanks, end", "END", "en"),
        ("Detener", "DETENER", "es"),
        ("cancelar por favor", "CANCELAR", "es"),
        ("No más", "NO MAS", "es"),
        ("arrête", "ARRETE", "fr"),
    ],
)
def test_whole_message_opt_out_keyword(body: str, keyword: str, language: str) -> None:
    d = decide(body)
    assert (d.action, d.match, d.keyword, d.reply_language) == (
        "opt_out",
        "exact",
        keyword,
        language,
    )
    assert (d.new_state, d.state_changed, d.reply, d.scope) == (
        "opted_out",
        True,
        "opt_out_confirmation",
        "all",
    )
    assert d.forward_to_ai is False
    assert d.handoff is False


@pytest.mark.parametrize(
    ("body", "keyword"), [("HELP STOP", "STOP"), ("start stop", "STOP"), ("info cancel", "CANCEL")]
)
def test_opt_out_wins_over_opt_in_and_help_in_one_message(body: str, keyword: str) -> None:
    d = decide(body, OPTED_OUT)
    assert (d.action, d.keyword) == ("opt_out", keyword)


def test_opt_in_wins_over_help() -> None:
    assert decide("help start", OPTED_OUT).action == "opt_in"


@pytest.mark.parametrize("body", ["START", "Unstop", "yes", "start again please", "YES!"])
def test_opt_in_keyword_resubscribes_an_opted_out_sender(body: str) -> None:
    d = decide(body, OPTED_OUT)
    assert (d.action, d.new_state, d.state_changed, d.reply) == (
        "opt_in",
        "subscribed",
        True,
        "opt_in_confirmation",
    )


def test_yes_while_subscribed_passes() -> None:
    assert decide("Yes").action == "pass"


def test_start_while_subscribed_resends_the_confirmation_without_a_state_change() -> None:
    d = decide("start")
    assert (d.action, d.state_changed, d.reply) == ("opt_in", False, "opt_in_confirmation")


@pytest.mark.parametrize(
    "body", ["start texting me again", "Resume", "sure", "ok", "Subscribe", "yes I want texts"]
)
def test_nothing_but_a_whole_message_opt_in_keyword_resubscribes(body: str) -> None:
    d = decide(body, OPTED_OUT)
    assert d.action == "pass"
    assert d.new_state == "opted_out"


@pytest.mark.parametrize(
    ("body", "keyword", "language"),
    [
        ("Help", "HELP", "en"),
        ("info?", "INFO", "en"),
        ("ayuda", "AYUDA", "es"),
        ("help me", "HELP", "en"),
    ],
)
def test_help_keyword(body: str, keyword: str, language: str) -> None:
    for state in (SUBSCRIBED, OPTED_OUT):
        d = decide(body, state)
        assert (d.action, d.keyword, d.reply, d.reply_language) == (
            "help",
            keyword,
            "help",
            language,
        )
        assert d.new_state == state.status
        assert d.state_changed is False


@pytest.mark.parametrize(
    "body", ["I need help with my bill", "Can you help me find my order?", "info on hours"]
)
def test_help_inside_a_sentence_is_a_question_for_the_ai(body: str) -> None:
    assert decide(body).action == "pass"


@pytest.mark.parametrize(
    ("body", "canonical"),
    [
        ("opt out", "OPT OUT"),
        ("Opt Out!", "OPT OUT"),
        ("OPT-OUT", "OPT-OUT"),
        ("opt-out please", "OPT-OUT"),
        ("optout", "OPTOUT"),
        ("OptOut.", "OPTOUT"),
        ("stop all", "STOP ALL"),
        ("StopAll", "STOPALL"),
    ],
)
def test_canonical_keyword_follows_the_spelling_typed(body: str, canonical: str) -> None:
    d = decide(body)
    assert (d.action, d.match, d.keyword) == ("opt_out", "exact", canonical)


@pytest.mark.parametrize(
    ("body", "action", "keyword"),
    [
        ("Stooooooop", "opt_out", "STOP"),
        ("STOPPPPP!!", "opt_out", "STOP"),
        ("sstop", "opt_out", "STOP"),
        ("Unsubscribeeeee", "opt_out", "UNSUBSCRIBE"),
        ("quiiiit", "opt_out", "QUIT"),
        ("opt ouuut", "opt_out", "OPT OUT"),
        ("heeelp", "help", "HELP"),
    ],
)
def test_letter_runs_collapse(body: str, action: str, keyword: str) -> None:
    d = decide(body)
    assert (d.action, d.keyword) == (action, keyword)


def test_letter_run_collapse_applies_to_opt_in() -> None:
    assert decide("STAAAART", OPTED_OUT).action == "opt_in"


@pytest.mark.parametrize("body", ["s t o p", "S.T.O.P", "s-t-o-p!"])
def test_spelled_out_keyword_is_an_ambiguous_exact_match(body: str) -> None:
    d = decide(body)
    assert (d.action, d.match, d.keyword, d.ambiguous) == ("opt_out", "exact", "STOP", True)


@pytest.mark.parametrize("body", ["No", "S", "No thanks", "nope", "стоп"])
def test_spec_exceptions_go_to_the_ai(body: str) -> None:
    assert decide(body).action == "pass"


# §6 Tier 2: revocation phrases.


@pytest.mark.parametrize(
    ("body", "phrase_id", "ambiguous"),
    [
        ("can you quit sending these", "P1", False),
        ("pls cease contacting me", "P1", False),
        ("halt all promo messages", "P2", False),
        ("end the alerts", "P2", False),
        ("unsub me", "P3", False),
        ("Unsubscribe this number from everything", "P3", False),
        ("opt my number out", "P3", False),
        ("please erase my contact info", "P4", False),
        ("take my number out of your database", "P4", False),
        ("remove from your mailing list", "P4", False),
        ("you need to stop messaging me", "P5", False),
        ("do not contact me again", "P5", False),
        ("I no longer wish to receive these texts", "P6", False),
        ("i do not wish to be contacted", "P6", False),
        ("no further notifications", "P7", False),
        ("lose my number", "P8", False),
        ("this is the wrong number", "P8", True),
        ("How can I unsubscribe from this?", "P9", True),
        ("how would I stop these", "P9", True),
        ("I withdraw my consent", "P10", False),
        ("we're not interested", "P11", True),
        ("No me escriban más", "P12", False),
        ("dejen de enviarme esto", "P12", False),
        ("quiero darme de baja", "P12", False),
    ],
)
def test_revocation_phrase(body: str, phrase_id: str, ambiguous: bool) -> None:
    d = decide(body)
    assert (d.action, d.match, d.phrase_id, d.ambiguous) == (
        "opt_out",
        "phrase",
        phrase_id,
        ambiguous,
    )
    assert d.keyword is None
    assert d.new_state == "opted_out"


@pytest.mark.parametrize(
    "body",
    [
        "how do I stop getting charged a fee",
        "I stopped receiving my statements",
        "Please take me off hold",
        "take me off autopay",
        "remove the alarm",
        "I'm not interested in the blue one, do you have red?",
    ],
)
def test_phrase_look_alikes_that_are_not_revocations(body: str) -> None:
    assert decide(body).action == "pass"


# §6.6 scope of an opt-out.


@pytest.mark.parametrize(
    "body",
    [
        "stop sending me promos",
        "no more promotional texts",
        "I don't want any marketing messages",
        "please stop the promos and ads",
    ],
)
def test_marketing_only_phrase_revokes_marketing_before_the_cutoff(body: str) -> None:
    d = decide(body, at=BEFORE_CUTOFF)
    assert (d.action, d.match, d.scope) == ("opt_out", "phrase", "marketing")


@pytest.mark.parametrize("body", ["stop sending me promos", "no more promotional texts"])
def test_marketing_only_phrase_revokes_all_from_the_cutoff(body: str) -> None:
    assert decide(body, at=CUTOFF).scope == "all"
    assert decide(body, at=AFTER_CUTOFF).scope == "all"


def test_marketing_only_scope_needs_the_policy_date() -> None:
    assert decide("stop sending me promos", policy=Policy()).scope == "all"


@pytest.mark.parametrize(
    "body",
    [
        "stop sending promos and texts",  # names other messages too
        "no more promos or reminders",
        "Stop the deals, and the alerts",
        "stop the texts",
        "STOP. no more promos",  # a keyword clause revokes everything (SCOPE-1)
    ],
)
def test_revocation_naming_more_than_marketing_revokes_all(body: str) -> None:
    d = decide(body, at=BEFORE_CUTOFF)
    assert (d.action, d.scope) == ("opt_out", "all")


def test_keeping_other_messages_keeps_the_marketing_scope() -> None:
    d = decide("Please stop sending deals but keep the delivery updates", at=BEFORE_CUTOFF)
    assert (d.action, d.scope) == ("opt_out", "marketing")


def test_marketing_only_opt_out_widens_on_a_later_keyword() -> None:
    d = decide("STOP", MARKETING_ONLY)
    assert (d.action, d.scope, d.state_changed) == ("opt_out", "all", True)


def test_a_full_opt_out_is_never_narrowed_by_a_marketing_phrase() -> None:
    d = decide("stop sending me promos", OPTED_OUT, at=BEFORE_CUTOFF)
    assert (d.action, d.scope, d.state_changed) == ("opt_out", "all", False)


def test_opt_out_from_an_opted_out_sender_is_confirmed_again() -> None:
    d = decide("unsubscribe", OPTED_OUT)
    assert (d.action, d.new_state, d.state_changed, d.reply) == (
        "opt_out",
        "opted_out",
        False,
        "opt_out_confirmation",
    )


# §6 Tier 3: a clause that is a keyword; §6.3 hand-off.


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("Quit. Also my package never showed up", "QUIT"),
        ("my card was charged twice, cancel", "CANCEL"),
        ("stop and tell me when my refund lands", "STOP"),
        ("Where's my parcel?? Stop!!", "STOP"),
        ("alto, pero quiero saber de mi pedido", "ALTO"),
    ],
)
def test_clause_keyword_is_an_opt_out_with_hand_off(body: str, keyword: str) -> None:
    d = decide(body)
    assert (d.action, d.match, d.keyword, d.handoff, d.scope) == (
        "opt_out",
        "clause",
        keyword,
        True,
        "all",
    )


@pytest.mark.parametrize(
    ("body", "handoff"),
    [
        ("please stop texting me, thanks", False),
        ("stop texting me and refund my money", True),
        ("no more texts. Why was I charged $40?", True),
        ("STOP 12345", False),
        ("remove me from your list please", False),
    ],
)
def test_hand_off_only_when_other_content_remains(body: str, handoff: bool) -> None:
    d = decide(body)
    assert d.action == "opt_out"
    assert d.handoff is handoff


@pytest.mark.parametrize(
    "body", ["Reply STOP to what? What is this", "Does END mean the sale is over?"]
)
def test_discussed_keyword_is_not_a_revocation(body: str) -> None:
    assert decide(body).action == "pass"


# §5 item 11 / IN-9: crisis language.


@pytest.mark.parametrize(
    "body", ["I want to end it all", "i feel suicidal tonight", "I might hurt myself"]
)
def test_crisis_language_alone_passes_with_safety_escalation(body: str) -> None:
    d = decide(body)
    assert (d.action, d.safety_escalation, d.forward_to_ai) == ("pass", True, True)
    assert d.new_state == "subscribed"


def test_crisis_language_suppresses_the_residual_rule(lexicon_with: Callable[..., None]) -> None:
    # "end it all" opens with an opt-out verb aimed at nothing: Tier 5 would fire without IN-9.
    assert decide("I want to end it all").action == "pass"
    lexicon_with(crisis_patterns=())
    d = decide("I want to end it all")
    assert (d.action, d.match, d.safety_escalation) == ("opt_out", "residual", False)


@pytest.mark.parametrize(
    "body", ["Stop. I want to end it all", "unsubscribe, i wanna die", "STOP. kill myself"]
)
def test_crisis_with_an_explicit_opt_out_is_an_opt_out_with_escalation(body: str) -> None:
    d = decide(body)
    assert (d.action, d.safety_escalation, d.handoff) == ("opt_out", True, True)


def test_no_safety_escalation_without_crisis_language() -> None:
    assert decide("stop it").safety_escalation is False
    assert decide("where is my order").safety_escalation is False


# §6 Tier 4: typos of an opt-out keyword.


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("Stpo", "STOP"),
        ("sotp please", "STOP"),
        ("Cancle", "CANCEL"),
        ("Unsubscirbe", "UNSUBSCRIBE"),
        ("Revok", "REVOKE"),
        ("optuot", "OPTOUT"),
        ("Qiut", "QUIT"),
        ("Remvoe", "REMOVE"),
        ("quiet", "QUIT"),
    ],
)
def test_one_typo_away_from_an_opt_out_keyword(body: str, keyword: str) -> None:
    d = decide(body)
    assert (d.action, d.match, d.keyword, d.ambiguous) == ("opt_out", "fuzzy", keyword, True)


@pytest.mark.parametrize("body", ["sop", "stpo my order", "Stpo the delivery", "Stop1"])
def test_typo_rule_needs_one_word_of_four_letters(body: str) -> None:
    assert decide(body).match != "fuzzy"


@pytest.mark.parametrize(
    "word", ["shop", "step", "quiz", "suit", "cancer", "remote", "atop", "slop", "stow"]
)
def test_typo_exclusions_pass(word: str, lexicon_with: Callable[..., None]) -> None:
    assert decide(word.capitalize()).action == "pass"
    lexicon_with(typo_exclusions=frozenset())
    assert decide(word.capitalize()).match == "fuzzy"


# §6 Tier 5: residual imperatives.


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("stop it", "STOP"),
        ("Cancel my subscription", "CANCEL"),
        ("end this now", "END"),
        ("STOP 55012", "STOP"),
        ("Quit it, you people are relentless", "QUIT"),
        ("remove it", "REMOVE"),
        ("para esto", "PARA"),
        ("baja mi numero", "BAJA"),
    ],
)
def test_residual_imperative_is_an_ambiguous_opt_out(body: str, keyword: str) -> None:
    d = decide(body)
    assert (d.action, d.match, d.keyword, d.ambiguous, d.scope) == (
        "opt_out",
        "residual",
        keyword,
        True,
        "all",
    )


@pytest.mark.parametrize(
    "body",
    [
        "Cancel my order",
        "cancel the booking for two",
        "Stop the delivery please",
        "Quit my job and need to update my address",
        "cancel my transfer",
        "stop payment on a check",
        "end the call",
        "remove the alarm",
        "remove milk from my shopping list",
        "cancel my haircut",
        "cancel both deliveries",  # -ies plural
        "remove the duplicate charges",  # -es plural of a word ending in e
        "please cancel my purchases",
        "Cancel the 4pm",
        "cancel tomorrow",
        "stop it on Monday",
        "Cancel my 3:30 appointment",  # a clock time is no segment break
        "cancel my 10:15",
        "cancel the 8.30 class",
    ],
)
def test_residual_verb_aimed_at_something_else_passes(body: str) -> None:
    assert decide(body).action == "pass"


def test_residual_verb_followed_by_a_preposition_passes(lexicon_with: Callable[..., None]) -> None:
    body = "End up paying twice again?"
    assert decide(body).action == "pass"
    lexicon_with(residual_prepositions=frozenset())
    assert decide(body).match == "residual"


def test_residual_needs_the_verb_first_in_its_clause() -> None:
    assert decide("I will cancel it myself").action == "pass"
    assert decide("please, cancel it").action == "opt_out"


# §5 item 10 (NORM-7): guards.

SPEC_GUARDS = [
    "stop by",
    "stop in",
    "stop at",
    "stop over",
    "stop off",
    "stop sign",
    "stop light",
    "stop watch",
    "stop loss",
    "stop gap",
    "stopwatch",
    "bus stop",
    "pit stop",
    "truck stop",
    "one stop",
    "non stop",
    "nonstop",
    "stop and shop",
    "stop n shop",
    "stop and go",
    "end of",
    "the end",
    "end date",
    "end time",
    "cancel policy",
    "cancellation",
    "quit smoking",
]


@pytest.mark.parametrize("guard", SPEC_GUARDS)
def test_every_spec_guard_is_neutralised(guard: str) -> None:
    words = ["is", "there", *guard.split(), "near", "you"]
    guarded = inbound._analyse(words, lexicon()).guarded
    assert guarded[2 : 2 + len(guard.split())] == [inbound.NEUTRAL] * len(guard.split())
    assert guarded[:2] == ["is", "there"]
    assert guarded[-2:] == ["near", "you"]


@pytest.mark.parametrize(
    "body",
    [
        "stop sign is down again",
        "Stop loss too tight?",
        "Stop watch in stock?",
        "stop gap fix is fine",
        "End date?",
        "End time?",
        "Quit smoking kit available?",
        "stop and go traffic, running late",
    ],
)
def test_guard_decides_the_message(body: str, lexicon_with: Callable[..., None]) -> None:
    assert decide(body).action == "pass"
    lexicon_with(guards=())
    assert decide(body).action == "opt_out"


NEGATIONS = [
    "don't",
    "do not",
    "never",
    "can't",
    "cannot",
    "won't",
    "couldn't",
    "didn't",
    "shouldn't",
    "wouldn't",
    "not",
]


@pytest.mark.parametrize("negation", NEGATIONS)
def test_negated_revocation_verb_is_neutralised(
    negation: str, lexicon_with: Callable[..., None]
) -> None:
    body = f"you {negation} stop sending me coupons lol"
    assert decide(body).action == "pass"
    lexicon_with(negations=())
    assert decide(body).action == "opt_out"


def test_negation_only_guards_the_verb_right_after_it() -> None:
    assert decide("don't stop my subscription").action == "pass"
    assert decide("don't care, stop texting me").action == "opt_out"


# IN-7: what the AI may do with a pass.


def test_pass_reply_policy_by_state() -> None:
    assert decide("where is my order").reply_policy == "normal"
    assert decide("where is my order", OPTED_OUT).reply_policy == "single_response_no_marketing"
    strict = Policy(strict_mode=True, marketing_only_revocations_until=CUTOFF)
    assert decide("where is my order", OPTED_OUT, policy=strict).reply_policy == "no_reply"
    assert decide("where is my order", policy=strict).reply_policy == "normal"


def test_non_pass_decisions_carry_no_reply_policy() -> None:
    assert decide("STOP").reply_policy is None
    assert decide("HELP", OPTED_OUT).reply_policy is None


# §6.1: every decision carries every output.


def test_decision_records_the_ruleset_and_normalised_text() -> None:
    d = decide("  ＳＴＯＰ\u200b ")
    assert d.ruleset_version.startswith("spec-")
    assert d.normalised_text == "stop"
    assert d == decide("  ＳＴＯＰ\u200b ")  # deterministic


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("remove bananas from the grocery list", "pass"),
        ("please remove old settings", "pass"),
        ("remove the list", "pass"),
        ("remove that", "opt_out"),
        ("remove these messages", "opt_out"),
    ],
)
def test_remove_is_a_revocation_only_when_it_removes_our_messages(text: str, action: str) -> None:
    assert classify(text).action == action
