"""RES-1: a brand's own products and services keep "cancel my <product>" away from opt-out.

The demo brand declares its own in `knowledge/own_products.yaml`; the texts below are the ones
members send. Words about messages can never be declared, so a bare "Cancel", "cancel it" and
"cancel my subscription" stay opt-outs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.compliance import Compliance, classify
from app.compliance.model import Policy
from app.compliance.own_products import FILE_NAME, load_own_products
from app.config import Settings
from app.errors import ConfigurationError
from app.storage import open_database
from tests.conftest import REPO

DEMO = Policy(own_products=load_own_products(REPO / "knowledge"))
AT = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "pls cancel my acme club, not using it",
        "Cancel my Acme Club",
        "end my club",
        "cancel my club subscription",
        "quit the club",
        "cancel my tune-up",
        "Cancel my tune up pls",
        "cancel the bike fit",
        "cancel my fitting",
        "stop my klarna",
        "cancel my club, i'll rejoin in the spring",
    ],
)
def test_ending_one_of_the_brands_products_is_no_opt_out(text: str) -> None:
    decision = classify(text, policy=DEMO)
    assert (decision.action, decision.forward_to_ai) == ("pass", True), text
    assert classify(text).action == "opt_out"  # without RES-1 these were residual opt-outs


@pytest.mark.parametrize(
    "text",
    [
        "Cancel",
        "cancel it",
        "cancel my subscription",
        "CANCEL please",
        "stop it",
        "stop the club texts",  # names messages: a revocation of them
        "stop sending me club promos",
        "cancel club alerts",
        "STOP. cancel my club too",  # the keyword clause still revokes
    ],
)
def test_revocations_stay_opt_outs_with_the_brands_products(text: str) -> None:
    assert classify(text, policy=DEMO).action == "opt_out", text


def test_the_demo_brand_declares_its_products() -> None:
    products = load_own_products(REPO / "knowledge")
    assert {("acme", "club"), ("club",), ("tune", "up"), ("bike", "fit")} <= products


def test_a_knowledge_base_without_the_file_declares_nothing(tmp_path: Path) -> None:
    assert load_own_products(tmp_path) == frozenset()


@pytest.mark.parametrize("word", ["subscription", "texts", "alerts", "my list", "cancel"])
def test_a_word_about_messages_cannot_be_declared(tmp_path: Path, word: str) -> None:
    (tmp_path / FILE_NAME).write_text(f"own_products: [Acme Club, {word}]\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="RES-1"):
        load_own_products(tmp_path)


@pytest.mark.parametrize("content", ["own_products: club\n", "[club]\n", "own_products: [1]\n"])
def test_a_malformed_file_is_one_clear_error(tmp_path: Path, content: str) -> None:
    (tmp_path / FILE_NAME).write_text(content, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=FILE_NAME):
        load_own_products(tmp_path)


def test_the_service_reads_the_brands_products_from_its_knowledge_base(tmp_path: Path) -> None:
    settings = Settings(env="test", data_dir=tmp_path, knowledge_dir=REPO / "knowledge")
    engine = open_database(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        compliance = Compliance(engine, settings)
        member = compliance.process_inbound(
            phone="+12125550123",
            body="pls cancel my acme club, not using it",
            received_at=AT,
            provider_message_id="SM-res1-a",
        )
        assert (member.action, member.state_changed) == ("pass", False)
        assert compliance.consent("+12125550123").state.status == "subscribed"
        stop = compliance.process_inbound(
            phone="+12125550123", body="Cancel", received_at=AT, provider_message_id="SM-res1-b"
        )
        assert (stop.action, stop.state_changed) == ("opt_out", True)
        assert compliance.consent("+12125550123").state.status == "opted_out"
    finally:
        engine.dispose()
