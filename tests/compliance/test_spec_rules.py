"""One test per rule of the compliance specification that had none naming it (audit of issue
13); each rule's other tests and public cases are listed in docs/compliance.md."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.compliance import Compliance, classify
from app.compliance.model import OPTED_OUT, SUBSCRIBED, GateRequest, Policy
from app.compliance.normalise import normalise
from app.config import Settings
from app.storage import open_database


def test_in4_an_opt_in_while_subscribed_confirms_again_without_a_state_change() -> None:
    decision = classify("START", state=SUBSCRIBED)
    assert (decision.action, decision.reply, decision.state_changed) == (
        "opt_in",
        "opt_in_confirmation",
        False,
    )


def test_in6_an_opt_out_while_opted_out_is_confirmed_again() -> None:
    decision = classify("unsubscribe", state=OPTED_OUT)
    assert (decision.action, decision.reply, decision.state_changed) == (
        "opt_out",
        "opt_out_confirmation",
        False,
    )


@pytest.mark.parametrize(
    ("body", "language"), [("ALTO", "es"), ("AYUDA", "es"), ("ARRETE", "fr"), ("AIDE", "fr")]
)
def test_in11_the_reply_follows_the_keywords_language(body: str, language: str) -> None:
    assert classify(body).reply_language == language


@pytest.mark.parametrize(
    ("rule", "raw", "folded"),
    [
        ("NORM-1", "\uff33\uff34\uff2f\uff30", "stop"),  # fullwidth
        ("NORM-2", "S\u200bT\u00adO\u2060P\ufe0f", "stop"),  # format characters, selector
        ("NORM-3", "\u0405\u0422\u041e\u0420", "stop"),  # Cyrillic look-alikes
        ("NORM-4", "ARR\u00caT", "arret"),  # accents, then case
        ("NORM-5", "don\u2019t   stop &  go", "dont stop and go"),
    ],
)
def test_norm_rules_fold_the_text(rule: str, raw: str, folded: str) -> None:
    assert normalise(raw) == folded, rule


def test_norm3_letters_without_a_latin_twin_are_left_for_the_ai() -> None:
    decision = classify("\u0441\u0442\u043e\u043f")  # Russian "stop"
    assert (decision.action, decision.forward_to_ai) == ("pass", True)


@pytest.mark.parametrize("body", ["STOP", "Stop. Where is my refund?", "stop it"])
def test_scope1_keyword_clause_and_residual_opt_outs_revoke_everything(body: str) -> None:
    decision = classify(body, policy=Policy())
    assert (decision.action, decision.scope) == ("opt_out", "all")


@pytest.mark.parametrize(
    "body", ["start texting me again", "Subscribe", "opt me back in", "turn my texts back on"]
)
def test_ai3_an_opted_out_sender_asking_to_resume_is_told_how(body: str) -> None:
    decision = classify(body, state=OPTED_OUT)
    assert (decision.action, decision.state_changed) == ("pass", False)  # IN-5
    assert (decision.reply, decision.reply_policy) == ("resume_instruction", "no_reply")


def test_ai3_applies_only_to_opted_out_senders_and_not_in_strict_mode() -> None:
    assert classify("start texting me again", state=SUBSCRIBED).reply is None
    strict = classify("start texting me again", state=OPTED_OUT, policy=Policy(strict_mode=True))
    assert (strict.reply, strict.reply_policy) == (None, "no_reply")


@pytest.mark.parametrize(
    "body", ["i will start sending you my receipts", "where is my order", "sure"]
)
def test_ai3_other_texts_from_opted_out_senders_still_go_to_the_ai(body: str) -> None:
    decision = classify(body, state=OPTED_OUT)
    assert (decision.reply, decision.forward_to_ai) == (None, True)


def test_arch3_consent_belongs_to_the_customer_and_brand_not_the_sending_number(
    tmp_path: Path,
) -> None:
    settings = Settings(env="test", data_dir=tmp_path)
    engine = open_database(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        compliance = Compliance(engine, settings)
        at = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)
        compliance.process_inbound(
            phone="+12125550123", body="STOP", received_at=at, brand="acme", provider_message_id="a"
        )
        # Whichever of the brand's numbers sends next, the opt-out holds; another brand's
        # consent is its own.
        assert compliance.consent("+12125550123", brand="acme").state.status == "opted_out"
        assert compliance.consent("+12125550123", brand="other").state.status == "subscribed"
        blocked = compliance.check_outbound(
            GateRequest("+12125550123", at, "transactional"), brand="acme", record=False
        )
        assert (blocked.allowed, blocked.rule) == (False, "opted_out")
    finally:
        engine.dispose()
