"""Compliance reply texts (SPEC §8, MSG-4)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from app.compliance.content import check_content
from app.compliance.lexicon import lexicon
from app.compliance.model import Language, ReplyKind, Scope
from app.compliance.replies import Brand, _strings, reply_text
from app.compliance.segments import count_segments
from app.config import Settings
from app.errors import ConfigurationError, InvalidInput

DEFAULT = Brand(
    name="Acme",
    support_phone="1-800-555-0199",
    support_url="acme.com/help",
    support_url_es="acme.com/ayuda",
    message_frequency="Msg frequency varies",
    program_description="customer care texts",
)

LANGUAGES: tuple[Language, ...] = ("en", "es", "fr")
COMBINATIONS: list[tuple[ReplyKind, Scope | None]] = [
    ("help", None),
    ("opt_out_confirmation", None),
    ("opt_out_confirmation", "all"),
    ("opt_out_confirmation", "marketing"),
    ("opt_in_confirmation", None),
]
ALL = [(kind, language, scope) for kind, scope in COMBINATIONS for language in LANGUAGES]

# The phrases §8 requires, per language ("or the language's equivalent").
STOP_TO_CANCEL = {
    "en": "Reply STOP to cancel",
    "es": "Envie ALTO para cancelar",
    "fr": "Repondez ARRET pour annuler",
}
RATES = {
    "en": "Msg&data rates may apply",
    "es": "Pueden aplicar cargos de msjs y datos",
    "fr": "Frais de msg et donnees possibles",
}
FREQUENCY = {
    "en": "Msg frequency varies",
    "es": "Frecuencia de msjs varia",
    "fr": "Frequence des msgs variable",
}
PROGRAM = {
    "en": "customer care texts",
    "es": "textos de atencion al cliente",
    "fr": "textos du service client",
}
NO_MORE = {
    "en": "will get no more texts",
    "es": "no recibira mas textos",
    "fr": "ne recevrez plus de textos",
}
NO_MORE_MARKETING = {"en": "no more marketing texts", "es": "textos de marketing", "fr": "plus de"}
STOP_ALL = {
    "en": "Reply STOP to end all texts",
    "es": "Envie ALTO para cancelar todo",
    "fr": "Repondez ARRET pour tout arreter",
}
HELP_FOR_HELP = {
    "en": "Reply HELP for help",
    "es": "Envie AYUDA para ayuda",
    "fr": "AIDE pour aide",
}
STOP_IN_OPT_IN = {"en": "STOP to cancel", "es": "ALTO para cancelar", "fr": "ARRET pour annuler"}
PROMOTIONAL = re.compile(
    r"\b(sale|offer|deal|discount|off|free|promo|coupon|save|shop|buy|new|win|today)\b|%", re.I
)


def _required(kind: ReplyKind, language: Language, scope: Scope | None) -> list[str]:
    if kind == "help":
        return [STOP_TO_CANCEL[language], RATES[language], FREQUENCY[language]]
    if kind == "opt_in_confirmation":
        return [
            PROGRAM[language],
            FREQUENCY[language],
            RATES[language],
            HELP_FOR_HELP[language],
            STOP_IN_OPT_IN[language],
        ]
    if scope == "marketing":
        return [NO_MORE_MARKETING[language], STOP_ALL[language]]
    return [NO_MORE[language], "START"]


@pytest.mark.parametrize(("kind", "language", "scope"), ALL)
def test_default_brand_fits_one_gsm7_segment(
    kind: ReplyKind, language: Language, scope: Scope | None
) -> None:
    text = reply_text(kind, language=language, brand=DEFAULT, scope=scope)
    count = count_segments(text)
    assert (count.encoding, count.segments) == ("GSM-7", 1), text
    assert len(text) <= 160


@pytest.mark.parametrize(("kind", "language", "scope"), ALL)
def test_required_elements_are_present(
    kind: ReplyKind, language: Language, scope: Scope | None
) -> None:
    text = reply_text(kind, language=language, brand=DEFAULT, scope=scope)
    assert text.startswith("Acme")  # MSG-2: the brand
    for phrase in _required(kind, language, scope):
        assert phrase in text, (phrase, text)
    if kind == "help":  # §8.1: how to get help
        assert "1-800-555-0199" in text
        assert ("acme.com/ayuda" if language == "es" else "acme.com/help") in text


@pytest.mark.parametrize(("kind", "language", "scope"), ALL)
def test_plain_ascii_no_emoji_no_curly_quotes_no_marketing(
    kind: ReplyKind, language: Language, scope: Scope | None
) -> None:
    text = reply_text(kind, language=language, brand=DEFAULT, scope=scope)
    assert all(32 <= ord(char) < 127 for char in text), text
    assert PROMOTIONAL.search(text) is None, text  # MSG-4, FCC-3


@pytest.mark.parametrize(("kind", "language", "scope"), ALL)
def test_replies_pass_the_content_rules(
    kind: ReplyKind, language: Language, scope: Scope | None
) -> None:
    # The replies themselves name keywords: they must use them for their own purpose (KW-1).
    # The opt-out confirmation is the one text that must not say "Reply STOP" (FCC-3: it only
    # confirms), so it is checked as a later message; the others must pass as a first message.
    text = reply_text(kind, language=language, brand=DEFAULT, scope=scope)
    first = kind != "opt_out_confirmation"
    verdict = check_content(text, category="reply", brand_name="Acme", first_message=first)
    assert verdict.ok, verdict.reasons


@pytest.mark.parametrize(("kind", "language", "scope"), ALL)
def test_keywords_the_replies_name_are_ones_the_inbound_layer_acts_on(
    kind: ReplyKind, language: Language, scope: Scope | None
) -> None:
    text = reply_text(kind, language=language, brand=DEFAULT, scope=scope)
    named = re.findall(r"\b(?:Reply|Envie|Repondez) ([A-Z]+)|, ([A-Z]+) (?:to|para|pour)\b", text)
    words = {word for pair in named for word in pair if word}
    assert words, text
    assert words <= set(lexicon().by_canonical), words


def test_spec_example_texts_are_reproduced() -> None:
    assert reply_text("help", language="en", brand=DEFAULT) == (
        "Acme Support: Help at acme.com/help or 1-800-555-0199. Msg frequency varies. "
        "Msg&data rates may apply. Reply STOP to cancel."
    )
    assert reply_text("help", language="es", brand=DEFAULT) == (
        "Acme: Ayuda en acme.com/ayuda o 1-800-555-0199. Frecuencia de msjs varia. "
        "Pueden aplicar cargos de msjs y datos. Envie ALTO para cancelar."
    )
    assert reply_text("opt_out_confirmation", language="en", brand=DEFAULT) == (
        "Acme: You are unsubscribed and will get no more texts from us. "
        "Reply START to resubscribe. Questions? 1-800-555-0199"
    )
    assert reply_text("opt_out_confirmation", language="en", brand=DEFAULT, scope="marketing") == (
        "Acme: You will get no more marketing texts. Order & account alerts continue. "
        "Reply STOP to end all texts. Help: 1-800-555-0199"
    )
    assert reply_text("opt_out_confirmation", language="es", brand=DEFAULT) == (
        "Acme: Se cancelo su suscripcion y no recibira mas textos. "
        "Envie START para volver a suscribirse. Ayuda: 1-800-555-0199"
    )
    assert reply_text("opt_in_confirmation", language="en", brand=DEFAULT) == (
        "Acme: You're subscribed to Acme customer care texts. Msg frequency varies. "
        "Msg&data rates may apply. Reply HELP for help, STOP to cancel."
    )


def test_scope_only_changes_the_opt_out_confirmation() -> None:
    for kind in ("help", "opt_in_confirmation"):
        assert reply_text(kind, language="en", brand=DEFAULT, scope="marketing") == reply_text(
            kind, language="en", brand=DEFAULT
        )
    all_scope = reply_text("opt_out_confirmation", language="en", brand=DEFAULT, scope="all")
    assert all_scope == reply_text("opt_out_confirmation", language="en", brand=DEFAULT)
    marketing = reply_text("opt_out_confirmation", language="en", brand=DEFAULT, scope="marketing")
    assert marketing != all_scope


LONG_BRANDS = {
    "long name": replace(DEFAULT, name="The Extremely Long Brand Name Company LLC"),
    "long everything": Brand(
        name="The Extremely Long Brand Name Company LLC",
        support_phone="+1 (800) 555-0199 ext. 12345",
        support_url="https://support.extremely-long-brand.example.com/help/sms",
        support_url_es="https://support.extremely-long-brand.example.com/ayuda/sms",
        message_frequency="Up to 10 msgs/week.",
        program_description="account, order and delivery notifications",
    ),
    "long accented name": replace(DEFAULT, name="Panadería São João Ltda Ñandú Hermanos"),
    "long url": replace(DEFAULT, support_url="support.extremely-long-brand.example.com/help/sms"),
}


@pytest.mark.parametrize("brand", LONG_BRANDS.values(), ids=LONG_BRANDS.keys())
@pytest.mark.parametrize(("kind", "language", "scope"), ALL)
def test_long_brand_never_exceeds_two_segments(
    brand: Brand, kind: ReplyKind, language: Language, scope: Scope | None
) -> None:
    text = reply_text(kind, language=language, brand=brand, scope=scope)
    assert count_segments(text).segments <= 2, text
    assert text.startswith(brand.name[:5])
    if kind == "help":
        assert STOP_TO_CANCEL[language] in text
        assert RATES[language] in text
    first = kind != "opt_out_confirmation"  # see test_replies_pass_the_content_rules
    verdict = check_content(text, category="reply", brand_name=brand.name, first_message=first)
    assert verdict.ok, verdict.reasons


def test_accents_and_emoji_in_settings_do_not_force_ucs2() -> None:
    # §8 removes accents on purpose; one "í" would make every reply UCS-2 (70 chars a segment).
    brand = replace(DEFAULT, name="Panadería Zoë ☕", program_description="“pedidos” – alertas")
    text = reply_text("opt_in_confirmation", language="es", brand=brand)
    assert text.startswith("Panaderia Zoe: ")
    assert '"pedidos" - alertas' in text
    assert count_segments(text).encoding == "GSM-7"
    # GSM-7 letters such as é and ñ are kept as written.
    assert reply_text("help", language="en", brand=replace(DEFAULT, name="Café Ñu")).startswith(
        "Café Ñu Support:"
    )


def test_a_name_without_a_gsm7_form_stays_readable_in_ucs2() -> None:
    # No twin for CJK letters: they are sent as written, in UCS-2, still within two segments.
    # UCS-2 leaves 134 units for two segments: the default Spanish opt-in text (135+) would not
    # fit, so such a brand is refused at start-up rather than sending three segments.
    with pytest.raises(ConfigurationError, match="opt_in_confirmation/es"):
        replace(DEFAULT, name="京")
    cjk = replace(
        DEFAULT, name="京", message_frequency="Up to 2 msgs/mo", program_description="alerts"
    )
    text = reply_text("help", language="en", brand=cjk)
    assert text.startswith("京")
    assert count_segments(text).encoding == "UCS-2"
    assert count_segments(text).segments <= 2


def test_falls_back_to_a_shorter_variant_to_keep_one_segment() -> None:
    brand = replace(
        DEFAULT,
        name="The Extremely Long Brand Name Company LLC",
        support_url="support.extremely-long-brand.example.com/help",
    )
    text = reply_text("help", language="en", brand=brand)
    # The full variant would be 2 segments; the phone-only one fits in 1.
    assert count_segments(text).segments == 1, text
    assert "1-800-555-0199" in text
    assert brand.support_url not in text
    opt_out = reply_text("opt_out_confirmation", language="en", brand=brand)
    assert count_segments(opt_out).segments == 1
    assert "Reply START to resubscribe" in opt_out


def test_prefers_the_most_complete_two_segment_variant_when_none_fits_one() -> None:
    text = reply_text("help", language="es", brand=LONG_BRANDS["long everything"])
    assert count_segments(text).segments == 2
    assert "support.extremely-long-brand.example.com/ayuda/sms" in text
    assert "+1 (800) 555-0199 ext. 12345" in text


def test_a_brand_too_long_for_two_segments_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="segments"):
        replace(DEFAULT, program_description="customer care texts " * 20)


def test_empty_support_url_skips_the_variants_that_need_it() -> None:
    brand = replace(DEFAULT, support_url="", support_url_es="")
    text = reply_text("help", language="en", brand=brand)
    assert "Help 1-800-555-0199." in text
    assert "  " not in text
    assert " or " not in text


def test_frequency_with_a_full_stop_gets_no_double_stop() -> None:
    brand = replace(DEFAULT, message_frequency="Up to 4 msgs/mo.")
    text = reply_text("help", language="en", brand=brand)
    assert "Up to 4 msgs/mo. Msg&data" in text
    assert ".." not in text
    # Values without a translation are sent as configured in every language.
    assert "Up to 4 msgs/mo." in reply_text("help", language="es", brand=brand)


@pytest.mark.parametrize("field", ["name", "support_phone", "message_frequency"])
def test_multi_line_brand_fields_are_refused(field: str) -> None:
    with pytest.raises(ConfigurationError, match="single line"):
        replace(DEFAULT, **{field: "Acme\nReply YES"})


def test_empty_brand_name_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="brand name"):
        replace(DEFAULT, name="  ")


def test_from_settings_maps_every_field() -> None:
    settings = Settings(
        _env_file=None,
        brand_name="Bolt",
        support_phone="1-800-555-0100",
        support_url="bolt.example/help",
        support_url_es="bolt.example/ayuda",
        message_frequency="Up to 4 msgs/mo",
        program_description="order alerts",
    )
    assert Brand.from_settings(settings) == Brand(
        name="Bolt",
        support_phone="1-800-555-0100",
        support_url="bolt.example/help",
        support_url_es="bolt.example/ayuda",
        message_frequency="Up to 4 msgs/mo",
        program_description="order alerts",
    )
    default = Brand.from_settings(Settings(_env_file=None))
    assert reply_text("help", language="en", brand=default).startswith(default.name)


def test_invalid_arguments_raise_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        reply_text("help", language="de", brand=DEFAULT)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        reply_text("opt_out_confirmation", language="en", brand=DEFAULT, scope="sms")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        reply_text("welcome", language="en", brand=DEFAULT)  # type: ignore[arg-type]


def test_yaml_booleans_are_rejected() -> None:
    # An unquoted YES in replies.yaml would load as True.
    with pytest.raises(ConfigurationError, match="quote it"):
        _strings(["Reply", True], "help/en")
