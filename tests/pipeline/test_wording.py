"""The words smsdesk itself sends (`app.pipeline.wording`): acknowledgements that say when a
person replies (business hours, weekends, public holidays), the safety text with the
deployment's numbers, a close and a clarifying question, in English and Spanish.

Every instant is fixed: nothing here reads the wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.compliance.segments import count_segments
from app.config import Settings
from app.errors import ConfigurationError
from app.handoff.sla import BusinessClock
from app.pipeline.decision import Group, Option
from app.pipeline.wording import LANGUAGES, Wording, wording_for

NEW_YORK = BusinessClock("mon-fri 09:00-18:00", "America/New_York", "US")
# New York is on daylight time (UTC-4) from 8 March 2026.
TUESDAY_11AM = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
TUESDAY_7AM = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
TUESDAY_7PM = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
SATURDAY_1130PM = datetime(2026, 3, 15, 3, 30, tzinfo=UTC)
FRIDAY_BEFORE_LABOR_DAY_630PM = datetime(2026, 9, 4, 22, 30, tzinfo=UTC)  # Mon 7 Sep: a holiday
WEDNESDAY_BEFORE_THANKSGIVING_7PM = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


@pytest.fixture
def wording() -> Wording:
    return Wording(NEW_YORK, 15)


def test_while_the_team_works_a_person_replies_within_the_target(wording: Wording) -> None:
    assert wording.acknowledgement(Group.person, "en", TUESDAY_11AM) == (
        "Sure. A member of our team will text you back here within about 15 minutes."
    )
    assert Wording(NEW_YORK, 30).when("en", TUESDAY_11AM) == "within about 30 minutes"


@pytest.mark.parametrize(
    ("at", "when"),
    [
        (TUESDAY_7AM, "today after 9am"),
        (TUESDAY_7PM, "tomorrow after 9am"),
        (SATURDAY_1130PM, "on Monday after 9am"),
        (FRIDAY_BEFORE_LABOR_DAY_630PM, "on Tuesday after 9am"),
        (WEDNESDAY_BEFORE_THANKSGIVING_7PM, "on Friday after 9am"),
    ],
    ids=["before-opening", "after-closing", "weekend", "long-weekend", "holiday"],
)
def test_out_of_hours_it_says_when_the_team_is_back(
    wording: Wording, at: datetime, when: str
) -> None:
    assert wording.when("en", at) == when
    assert wording.acknowledgement(Group.person, "en", at) == (
        f"Sure. A member of our team will text you back here {when}."
    )
    assert "minutes" not in wording.acknowledgement(Group.person, "en", at)


def test_without_holidays_a_holiday_is_a_working_day() -> None:
    no_holidays = Wording(BusinessClock("mon-fri 09:00-18:00", "America/New_York", None), 15)
    assert no_holidays.when("en", FRIDAY_BEFORE_LABOR_DAY_630PM) == "on Monday after 9am"


def test_opening_times_with_minutes_and_other_zones() -> None:
    chicago = Wording(BusinessClock("mon-fri 08:30-17:00; sat 10:00-14:00", "America/Chicago"), 15)
    assert chicago.when("en", datetime(2026, 3, 10, 12, 0, tzinfo=UTC)) == "today after 8:30am"
    friday_evening = datetime(2026, 3, 13, 23, 30, tzinfo=UTC)  # 18:30 in Chicago
    assert chicago.when("en", friday_evening) == "tomorrow after 10am"  # Saturday's hours


@pytest.mark.parametrize(
    ("group", "opening"),
    [
        (Group.person, "Sure."),
        (Group.complaint, "We're sorry about this."),
        (Group.account, "Thanks. A member of our team will look at your account"),
        (Group.legal, "Thanks. We've passed this to our team"),
        (Group.fraud, "Thanks for checking with us. Don't share card details or codes"),
        (Group.unanswerable, "Thanks for your message."),
        (Group.system, "Thanks for your message."),
    ],
)
def test_the_acknowledgement_is_worded_for_the_reason(
    wording: Wording, group: Group, opening: str
) -> None:
    text = wording.acknowledgement(group, "en", TUESDAY_11AM)
    assert text.startswith(opening)
    assert text.endswith(" within about 15 minutes.")


def test_spanish_acknowledgements(wording: Wording) -> None:
    assert wording.acknowledgement(Group.person, "es", TUESDAY_11AM) == (
        "Claro. Una persona de nuestro equipo te escribira aqui en unos 15 minutos."
    )
    assert wording.acknowledgement(Group.complaint, "es", SATURDAY_1130PM) == (
        "Lamentamos lo ocurrido. Una persona de nuestro equipo te escribira aqui "
        "el lunes después de las 9am."
    )
    assert wording.when("es", TUESDAY_7AM) == "hoy después de las 9am"
    assert wording.when("es", TUESDAY_7PM) == "mañana después de las 9am"


def test_a_language_without_texts_falls_back_to_english(wording: Wording) -> None:
    assert wording.acknowledgement(Group.person, "fr", TUESDAY_11AM) == (
        wording.acknowledgement(Group.person, "en", TUESDAY_11AM)
    )


def test_the_safety_text_names_the_configured_numbers() -> None:
    us = Wording(NEW_YORK, 15)
    assert us.safety("en").startswith("If you or someone else is in danger, call 911 now.")
    assert "call or text 988 any time" in us.safety("en")
    abroad = Wording(NEW_YORK, 15, emergency_number="112", crisis_line="024")
    assert "call 112 now" in abroad.safety("en") and "text 024 any time" in abroad.safety("en")
    assert "911" not in abroad.safety("en") and "988" not in abroad.safety("en")
    assert "llama al 112 ahora" in abroad.safety("es") and "024" in abroad.safety("es")


def test_close_and_clarify(wording: Wording) -> None:
    assert wording.close("en") == "You're welcome! Text us anytime."
    assert wording.close("es") == "¡De nada! Escribenos cuando quieras."
    options = (Option(1, "Cancel an order", "cancel-order"), Option(2, "Leave the Club", "c"))
    assert wording.clarify(options, "en") == (
        "Happy to help. Which one do you mean? 1) Cancel an order 2) Leave the Club "
        "(reply with the number)"
    )
    assert "1) Cancel an order 2) Leave the Club" in wording.clarify(options, "es")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_is_gsm_7(wording: Wording, language: str) -> None:
    texts = [
        *(wording.acknowledgement(g, language, at) for g in Group for at in (TUESDAY_11AM,
                                                                            SATURDAY_1130PM)),
        wording.safety(language),
        wording.close(language),
        wording.clarify((Option(1, "Store hours", "store-hours"),), language),
    ]  # fmt: skip
    for text in texts:
        assert count_segments(text).encoding == "GSM-7", text


def test_a_business_overrides_texts_in_its_knowledge_folder(tmp_path: Path) -> None:
    (tmp_path / "replies.yaml").write_text(
        "en:\n  handoff:\n    person: On it! Someone from the shop will text you {when}.\n",
        encoding="utf-8",
    )
    custom = Wording(NEW_YORK, 15, knowledge_dir=tmp_path)
    assert custom.acknowledgement(Group.person, "en", TUESDAY_11AM) == (
        "On it! Someone from the shop will text you within about 15 minutes."
    )
    # Everything it does not override stays.
    assert custom.acknowledgement(Group.complaint, "en", TUESDAY_11AM).startswith("We're sorry")
    assert custom.safety("en") == Wording(NEW_YORK, 15).safety("en")


def test_a_broken_override_is_reported(tmp_path: Path) -> None:
    (tmp_path / "replies.yaml").write_text("en: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"replies\.yaml"):
        Wording(NEW_YORK, 15, knowledge_dir=tmp_path).close("en")


def test_the_deployments_settings_choose_hours_target_and_numbers(tmp_path: Path) -> None:
    settings = Settings(
        env="test",
        data_dir=tmp_path / "data",
        knowledge_dir=tmp_path,
        business_hours="mon-sat 10:00-16:00",
        business_timezone="America/Los_Angeles",
        business_holidays=None,
        sla_first_response_minutes=20,
        emergency_number="999",
        crisis_line="111",
    )
    wording = wording_for(settings)
    saturday_noon_la = datetime(2026, 3, 14, 19, 0, tzinfo=UTC)
    assert wording.when("en", saturday_noon_la) == "within about 20 minutes"
    assert wording.when("en", SATURDAY_1130PM) == "on Monday after 10am"  # 20:30 Saturday in LA
    assert "call 999 now" in wording.safety("en") and "111" in wording.safety("en")
