"""The signup texts carry what SPEC §8.3 asks for, in GSM-7, within two segments."""

from __future__ import annotations

import pytest

from app.compliance import Brand, check_content, count_segments
from app.errors import ConfigurationError
from app.signups.texts import SignupCategory, check_templates, signup_text

BRAND = Brand("Acme", "1-800-555-0199", "acme.com/help", "acme.com/ayuda",
              "Msg frequency varies", "customer care texts")  # fmt: skip
COMBINATIONS: list[tuple[SignupCategory, ...]] = [
    ("transactional",),
    ("marketing",),
    ("marketing", "transactional"),
]


@pytest.mark.parametrize("categories", COMBINATIONS)
@pytest.mark.parametrize("kind", ["request", "confirmed"])
def test_every_text_names_brand_what_frequency_rates_help_and_stop(
    kind: str, categories: tuple[SignupCategory, ...]
) -> None:
    text = signup_text(kind, categories=categories, brand=BRAND)  # type: ignore[arg-type]
    size = count_segments(text)
    assert (size.encoding, size.segments) == ("GSM-7", 1)
    for element in ("Acme", "Msg frequency varies", "Msg&data rates may apply", "HELP", "STOP"):
        assert element in text
    assert ("marketing texts" in text) is ("marketing" in categories)
    assert ("customer care texts" in text) is ("transactional" in categories)


def test_the_request_asks_for_yes_for_its_own_purpose() -> None:
    text = signup_text("request", categories=("marketing",), brand=BRAND)
    assert "Reply YES to confirm marketing texts" in text
    verdict = check_content(text, category="transactional", brand_name="Acme",
                            first_message=True, max_chars=320)  # fmt: skip
    assert verdict.ok, verdict.reasons  # KW-1 and MSG-2


def test_a_long_program_description_falls_back_to_a_shorter_variant() -> None:
    long = Brand("Acme Outdoor Supply", "1-800-555-0199", "acme.com/help", "acme.com/ayuda",
                 "Up to 4 msgs/mo.", "order, delivery and account alerts")  # fmt: skip
    text = signup_text("confirmed", categories=("marketing", "transactional"), brand=long)
    assert count_segments(text).segments <= 2
    assert "Up to 4 msgs/mo. Msg&data" in text  # one full stop, not two


def test_settings_that_cannot_fit_two_segments_are_refused() -> None:
    huge = Brand("Acme", "1-800-555-0199", "acme.com/help", "acme.com/ayuda",
                 "Msg frequency varies", "x" * 190)  # fmt: skip
    with pytest.raises(ConfigurationError, match="segments"):
        signup_text("confirmed", categories=("marketing", "transactional"), brand=huge)


def test_the_data_file_is_well_formed() -> None:
    check_templates()
