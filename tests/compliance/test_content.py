"""Outbound content rules: SHAFT (MSG-3), reserved keywords (KW-1), length (MSG-1), MSG-2."""

from __future__ import annotations

import pytest

from app.compliance.content import check_content
from app.compliance.model import Category, ContentVerdict
from app.compliance.segments import count_segments

OPT_OUT = " Reply STOP to opt out."


def check(body: str, category: Category = "transactional", **kwargs: object) -> ContentVerdict:
    return check_content(body, category=category, brand_name="Acme", **kwargs)  # type: ignore[arg-type]


# --- MSG-3: SHAFT ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "label"),
    [
        ("Acme: hot singles in your area tonight", "sexual content"),
        ("Acme: new PORN site for members", "sexual content"),
        ("Acme: white power rally this Saturday", "hate speech"),
        ("Acme: Happy Hour! 2-for-1 beers until 7pm", "alcohol"),
        ("Acme: Our Cabernet wine club ships Friday", "alcohol"),
        ("Acme: gun show this weekend, AR-15s in stock", "firearms"),
        ("Acme: 9mm ammo restocked", "firearms"),
        ("Acme: new vape flavors have landed", "tobacco or vaping products"),
        ("Acme: premium cigars 20% off", "tobacco or vaping products"),
        ("Acme: E-cigs and e-liquid back in stock", "tobacco or vaping products"),
        ("Acme: CBD gummies now available", "cannabis or CBD"),
        ("Acme: fresh kush at our dispensary", "cannabis or CBD"),
        ("Acme: Delta-8 THC carts are here", "cannabis or CBD"),
        # Normalisation (§5): case, accents and look-alike letters do not hide a term.
        ("Acme: VÁPE deals", "tobacco or vaping products"),
        ("Acme: new gun\u200b now", "firearms"),
    ],
)
def test_shaft_content_is_blocked(body: str, label: str) -> None:
    verdict = check(body)
    assert not verdict.ok
    assert any(reason.startswith(f"MSG-3 (SHAFT): {label}") for reason in verdict.reasons), (
        verdict.reasons
    )


@pytest.mark.parametrize(
    "body",
    [
        "Acme: Your order ships from our Scunthorpe warehouse",
        "Acme: Please send a screenshot of the error",
        "Acme: Your pottery class starts at 6pm",
        "Acme: Your flu shot is booked for Tuesday",
        "Acme: The cooking pot you ordered is back in stock",
        "Acme: The repair has begun",
        "Acme: Your glue gun and nail gun have shipped",
        "Acme: Bring your massage gun to the session",
        "Acme: Delivery to Sussex and Middlesex is free",
        "Acme: Your therapist will call you",
        "Acme: Your Delta 8:05 flight is on time",
        "Acme: Weed control treatment for your lawn is scheduled",
        "Acme: Our cocktail dresses and wine glasses are restocked",
        "Acme: Use rubbing alcohol to clean the lens",
        "Acme: Please avoid alcohol before your procedure",
        "Acme: Spic & Span is back in stock",
        "Acme: A pistol grip drill is in your cart",
        "Acme: Your order of ginger tea has shipped",
        "Acme: Your analysis report is ready",
        "Acme: Please assess the damage and send photos",
        "Acme: We added sextant and Essex maps to your library",
    ],
)
def test_shaft_false_positives_are_allowed(body: str) -> None:
    verdict = check(body)
    assert verdict.ok, verdict.reasons


def test_alcohol_is_allowed_with_an_age_gate_but_tobacco_never() -> None:
    assert check("Acme: Happy hour wine tasting Friday", age_gated=True).ok
    assert not check("Acme: Happy hour wine tasting Friday").ok
    vape = check("Acme: new vape flavors", age_gated=True)
    assert not vape.ok
    assert "tobacco" in vape.reasons[0]
    assert not check("Acme: CBD oil tasting", age_gated=True).ok


# --- KW-1: reserved keywords -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("Acme: reply CANCEL to cancel your appointment", "CANCEL"),
        ("Acme: Reply STOP to pause delivery", "STOP"),
        ("Acme: Text YES to confirm", "YES"),
        ("Acme: Reply YES if you are coming", "YES"),
        ("Acme: To reschedule, reply CANCEL.", "CANCEL"),
        ("Acme: Reply START to start your free trial", "START"),
        ("Acme: Reply INFO to get your tracking number", "INFO"),
        ("Acme: Reply HELP for help or CANCEL to cancel your appointment", "CANCEL"),
        ("Acme: Reply HELP for help, END to end your free trial", "END"),
        ("Acme: Reply STOP or QUIT to cancel your order", "QUIT"),
        ("Acme: Reply back with the word STOP to hold your package", "STOP"),
        ("Acme: Reply START to resume delivery", "START"),
        ("Acme: Responda CANCELAR para cancelar su cita", "CANCELAR"),
        ("Acme: Repondez ARRET pour annuler votre rendez-vous", "ARRET"),
        ("Acme: Reply OPT OUT to skip this week's box", "OPT OUT"),
        ("Acme: reply stop to pause delivery", "STOP"),
    ],
)
def test_reserved_keyword_for_another_purpose_is_blocked(body: str, keyword: str) -> None:
    verdict = check(body)
    assert not verdict.ok
    assert any(
        reason.startswith(f"KW-1: asks for the reserved keyword {keyword} ")
        for reason in verdict.reasons
    ), verdict.reasons


@pytest.mark.parametrize(
    "body",
    [
        "Acme: Reply STOP to opt out",
        "Acme: Reply STOP to unsubscribe",
        "Acme: Reply STOP to cancel.",
        "Acme: Reply STOP to end texts",
        "Acme: Reply STOP to stop receiving appointment reminders",
        "Acme: Reply STOP at any time to stop",
        "Acme: Reply HELP for help",
        "Acme: Reply HELP for help, STOP to cancel.",
        "Acme: Reply START to resubscribe",
        "Acme: Reply START to resume texts",
        "Acme: Text YES to get order alerts by text",
        "Acme: If you no longer want texts, reply STOP.",
        "Acme: Reply Y to confirm or STOP to opt out",
        "Acme: Reply C to cancel your appointment or 2 to reschedule",
        "Acme: Envie ALTO para cancelar",
        "Acme: Repondez ARRET pour annuler",
        "Acme: We will send help to your address",  # lower case after a weak verb
        "Acme: I will text info to you shortly",
        "Acme: Stop by our store to pick up your order",
        "Acme: Please reply to confirm",
        "Acme: Responda para confirmar su cita",  # PARA as the preposition
        "Acme: Your order will end up at the front desk",
        "Acme: Thanks! We'll cancel your appointment for you.",
    ],
)
def test_keyword_for_its_own_purpose_or_no_keyword_is_allowed(body: str) -> None:
    verdict = check(body)
    assert verdict.ok, verdict.reasons


# --- MSG-1: length -----------------------------------------------------------------------------


def test_reply_length_is_capped_by_characters_and_segments() -> None:
    assert check("Acme: " + "a" * 300, "reply").ok  # 306 GSM-7 chars: 2 segments
    too_many = check("Acme: " + "a" * 301, "reply")  # 307: 3 segments
    assert not too_many.ok
    assert too_many.segments == 3
    assert too_many.reasons[0].startswith("MSG-1: reply is 307 characters in 3 GSM-7 segments")
    assert not check("Acme: " + "a" * 100, "reply", max_chars=100).ok  # 106 chars
    assert check("Acme: " + "a" * 94, "reply", max_chars=100).ok


def test_reply_segments_count_ucs2() -> None:
    assert check("Acme: " + "á" * 128, "reply").ok  # 134 units: 2 UCS-2 segments
    verdict = check("Acme: " + "á" * 129, "reply")
    assert not verdict.ok
    assert (verdict.segments, verdict.encoding) == (3, "UCS-2")
    assert not check("Acme: " + "😀" * 65, "reply").ok  # 136 units


def test_other_categories_have_no_reply_length_cap() -> None:
    long_body = "Acme: " + "a" * 600
    assert check(long_body, "transactional").ok
    assert check(long_body + OPT_OUT, "marketing").ok


def test_verdict_reports_the_segment_count() -> None:
    body = "Acme: your order 😀 shipped"
    verdict = check(body)
    expected = count_segments(body)
    assert (verdict.segments, verdict.encoding) == (expected.segments, expected.encoding)
    assert (verdict.segments, verdict.encoding) == (1, "UCS-2")


def test_empty_body_is_blocked() -> None:
    assert not check("").ok
    assert not check("   \n ").ok


# --- MSG-2: brand and opt-out instructions -----------------------------------------------------


def test_marketing_needs_the_brand_and_opt_out_instructions() -> None:
    assert check("Acme: 20% off all orders this week." + OPT_OUT, "marketing").ok
    no_brand = check("20% off all orders this week." + OPT_OUT, "marketing")
    assert no_brand.reasons == ("MSG-2: the message does not name the brand 'Acme'",)
    no_opt_out = check("Acme: 20% off all orders this week.", "marketing")
    assert len(no_opt_out.reasons) == 1
    assert no_opt_out.reasons[0].startswith("MSG-2: marketing without opt-out instructions")


@pytest.mark.parametrize(
    "opt_out",
    [
        "Reply STOP to opt out",
        "Reply STOP to unsubscribe.",
        "Txt STOP to end",
        "Text STOP to quit",
        "Opt out: reply STOP",
        "STOP to opt out",
        "Reply STOP to cancel",
        "Reply HELP for help, STOP to cancel",
        "Reply Y to confirm or STOP to opt out",
        "Envie ALTO para cancelar",
        "Repondez ARRET pour vous desabonner",
    ],
)
def test_opt_out_instruction_equivalents(opt_out: str) -> None:
    verdict = check(f"Acme: 20% off this week. {opt_out}", "marketing")
    assert verdict.ok, verdict.reasons


@pytest.mark.parametrize(
    "not_opt_out",
    [
        "Unsubscribe at acme.com/unsub",
        "Reply STOP to pause delivery",  # KW-1 as well
        "Stop by our store today",
        "Reply C to cancel",
        "Responda para confirmar",
    ],
)
def test_marketing_without_a_real_opt_out_instruction_is_blocked(not_opt_out: str) -> None:
    verdict = check(f"Acme: 20% off this week. {not_opt_out}", "marketing")
    assert any("without opt-out instructions" in reason for reason in verdict.reasons)


def test_first_message_must_name_the_brand() -> None:
    assert not check("Your order has shipped. Reply STOP to opt out", first_message=True).ok
    assert check("Acme: your order has shipped. Reply STOP to opt out", first_message=True).ok
    assert check("Your order has shipped.").ok  # later messages of a conversation
    assert check("Your order has shipped.", "reply").ok


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("ACME: your order shipped", True),
        ("Thanks for choosing Acme's express service", True),
        ("Thanks for choosing Acmé", True),
        ("Thanks for choosing Acmeville", False),
        ("Thanks for choosing acme.com", True),
        ("Thanks for shopping", False),
    ],
)
def test_brand_is_matched_on_whole_words(body: str, named: bool) -> None:
    assert check(f"{body}. Reply STOP to opt out", first_message=True).ok is named


def test_first_message_must_say_how_to_opt_out() -> None:
    verdict = check("Acme: your order has shipped.", first_message=True)
    assert not verdict.ok and "opt-out instructions" in verdict.reasons[0]
    assert check("Acme: your order has shipped. Reply STOP to opt out", first_message=True).ok


def test_multi_word_brand_must_appear_whole() -> None:
    def first(body: str) -> bool:
        return check_content(
            f"{body}. Reply STOP to opt out",
            category="transactional",
            brand_name="Blue Bottle Coffee",
            first_message=True,
        ).ok

    assert first("Blue Bottle Coffee: your order is ready")
    assert first("BLUE-BOTTLE COFFEE: your order is ready")
    assert not first("Blue Bottle: your order is ready")


def test_reasons_accumulate() -> None:
    verdict = check("Buy vape pens! Reply YES to order", "marketing")
    assert not verdict.ok
    rules = [reason.split(":")[0] for reason in verdict.reasons]
    assert rules == ["MSG-3 (SHAFT)", "KW-1", "MSG-2", "MSG-2"]
