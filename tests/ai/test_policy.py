"""The decision layer's readers on their own: a request for a person, tone, legal and fraud
matters (`app.ai.escalation`), danger (`app.ai.safety`), the specifics a text gives
(`app.ai.specifics`), texting language to plain words (`app.ai.textnorm`), the language a text
is in (`app.ai.language`); and the guardrails on drafts.

The readers see what the pipeline gives them: `app.ai.reading` runs them on the text after the
shipped knowledge base's normaliser (spelling corrected for English only), so the tests do too.
"""

from __future__ import annotations

import pytest

from app.ai import escalation
from app.ai.guardrails import check_draft, check_grounded
from app.ai.knowledge import load_knowledge
from app.ai.language import detect
from app.ai.models import business_texts
from app.ai.safety import PATTERNS, match_patterns
from app.ai.specifics import specifics
from app.ai.textnorm import Normaliser, common_words, shorthand
from tests.conftest import REPO


@pytest.fixture(scope="module")
def normaliser() -> Normaliser:
    """The normaliser the AI layer builds from the shipped knowledge base."""
    return Normaliser.from_texts(business_texts(load_knowledge(REPO / "knowledge")))


def plain(normaliser: Normaliser, text: str) -> str:
    """The text as `app.ai.reading` hands it to the readers."""
    return normaliser(text, correct=detect(text) == "en")


# -- a request for a person -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # plainly
        "can i chat with a human being",
        "get me a real person pls",
        "customer service please",
        "manager pls",
        "rep please, my wheel warranty claim",
        # indirectly
        "could someone give me a call about my bike",
        "is there anyone i can actually talk to",
        "I'd rather talk to someone on your team",
        "pls have someone call me back",
        "is there a human i can text with?",
        # typos and shorthand, as customers text them
        "can i tlak to somone",
        "i need to speak with a real persn",
        "lemme speak w/ a manager",
        "agnet please",
        "reprsentative pls",
        # Spanish
        "quisiera hablar con alguien del taller",
        "necesito un agente",
        "pueden comunicarme con una persona",
    ],
)
def test_requests_for_a_person_are_recognised(normaliser: Normaliser, text: str) -> None:
    assert escalation.asks_for_person(plain(normaliser, text))


@pytest.mark.parametrize(
    "text",
    [
        # about a person, not asking for one
        "is the bike fit done by a real person",
        "dont need an agent, just tell me my order status",
        "do i need to talk to someone to book a tune up",
        "who is the manager of the downtown store",
        "can my wife pick up my order",
        "how many people can join a group ride",
        "is the travel agent discount still on",
        "my person of contact moved",
        # ordinary questions
        "where is my order",
        "what time does the repair shop open",
    ],
)
def test_near_misses_are_not_requests_for_a_person(normaliser: Normaliser, text: str) -> None:
    assert not escalation.asks_for_person(plain(normaliser, text))


# -- tone -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "This is ridiculous, third time I've asked and nobody has replied!!",
        "I'm so frustrated, the tune up was botched",
        "estoy harto, nadie me responde",
        "I want to file a formal complaint about the mechanic",
        "the mechanic scratched my frame and nobody came to help",  # two grievances, no swearing
    ],
)
def test_angry_texts_read_as_angry(text: str) -> None:
    assert escalation.tone(text).angry


@pytest.mark.parametrize(
    "text",
    [
        "my order is late, any update?",
        "Thanks, the bike rides great now",
        "can you tell me when the sale ends",
        "hola, cierran tarde los viernes?",
        "cancel my order please, wrong size",
    ],
)
def test_calm_texts_do_not(text: str) -> None:
    tone = escalation.tone(text)
    assert not tone.angry and not tone.complaint
    assert not escalation.frustrated(tone, negative=0.95, threshold=0.8)  # negative words alone


def test_tone_counts_its_cues() -> None:
    angry = escalation.tone("This is ridiculous, third time I've asked and nobody has replied!!")
    assert angry.anger_cues >= 2 and angry.shouting and not angry.complaint
    complaint = escalation.tone("I want to file a formal complaint about the mechanic")
    assert complaint.complaint and complaint.anger_cues == 0
    assert escalation.tone("WHY IS THIS SO HARD").shouting


def test_a_grievance_is_anger_only_with_negative_sentiment() -> None:
    tone = escalation.tone("waited 40 minutes at the counter for a tube")
    assert tone.aggrieved and not tone.angry
    assert escalation.frustrated(tone, negative=0.9, threshold=0.8)
    assert not escalation.frustrated(tone, negative=0.3, threshold=0.8)


# -- legal matters and fraud worries --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "legal"),
    [
        ("my lawyer will be in touch about the crash", True),
        ("I'm going to sue you over this", True),
        ("i will report you to the better business bureau", True),
        ("voy a llamar a mi abogado", True),
        ("my client was injured and we are seeking compensation", True),
        ("is the e-bike legal on bike paths", False),
        ("can I get a legal size envelope with my receipt", False),
        ("what's your return policy", False),
    ],
)
def test_legal_matters(text: str, legal: bool) -> None:
    assert escalation.legal_matter(text) is legal


@pytest.mark.parametrize(
    ("text", "fraud"),
    [
        ("got a text saying i won a $500 acme gift card, is this legit?", True),
        ("someone used my card on your site", True),
        ("I didn't make this purchase", True),
        ("is this really acme texting me", True),
        ("a caller said they were from acme and asked for my card number", True),
        ("me robaron la tarjeta", True),
        ("how do I pay with a gift card", False),
        ("where can I buy a gift card", False),
        ("is the new jersey legitimately waterproof", False),
        ("what payment methods do you take", False),
    ],
)
def test_fraud_worries(text: str, fraud: bool) -> None:
    assert escalation.fraud_worry(text) is fraud


# -- danger ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("honestly i just want to end my life", "self_harm"),
        ("a veces pienso en quitarme la vida", "self_harm"),
        ("my boyfriend hits me when he drinks", "violence"),
        ("mi novio me golpea", "violence"),
        ("my dad is having chest pain and is sweating", "medical"),
        ("mi papa no puede respirar", "medical"),
        ("i smell gas near the water heater", "fire_gas"),
        ("hay humo saliendo del cargador", "fire_gas"),
        ("the ebike battery is smoking in the hallway", "fire_gas"),
        ("my son is missing in the mall", "child"),
        ("mi hija se perdio en la tienda", "child"),
        ("i'm going to shoot everyone at your store", "threat"),
        ("te voy a matar", "threat"),
    ],
)
def test_danger_is_matched_by_kind(text: str, kind: str) -> None:
    found = match_patterns(text)
    assert found is not None and found[0] == kind, found


def test_every_kind_is_covered_here() -> None:
    assert set(PATTERNS) == {"self_harm", "violence", "medical", "fire_gas", "child", "threat"}


@pytest.mark.parametrize(
    "text",
    [
        "this price is killing me",
        "these prices are killing me lol",
        "fire sale",
        "my battery died",
        "my kid lost his glove",
        "i'm dying to try the new bike",
        "is the fire sale still on?",
        "my bike light battery died on the ride home",
        "my kid lost his helmet at the park",
        "i'm dying to try the new gravel bike",
        "my phone died, can you resend the code",
        "i fired my old mechanic, can you do a tune up",
        "shoot me the tracking number when you can",
        "this heat is killing my lawn",
    ],
)
def test_everyday_idioms_are_not_danger(text: str) -> None:
    assert match_patterns(text) is None


# -- specifics ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("order AC40991 hasn't shipped", {"order_number"}),
        ("AC-4471 never came", {"order_number"}),
        ("it's #55821, still nothing", {"order_number"}),
        ("you charged me $43.12 on 3/2", {"amount", "date"}),
        ("I paid 60 bucks for it", {"amount"}),
        ("card ending in 4821 was billed twice", {"card_digits"}),
        ("my email is jo.doe+bikes@example.com", {"email"}),
        ("photo attached of the dent", {"photo"}),
        ("it came yesterday and was broken", {"date"}),
        ("delivered on march 3rd", {"date"}),
        ("llego el 5 de mayo", {"date"}),
        ("when does the shop close tonight", set()),
        ("I have 2 bikes and 3 helmets", set()),
        ("do you have size 10.5 shoes", set()),
    ],
)
def test_specifics_a_text_gives(text: str, found: set[str]) -> None:
    assert specifics(text) == found


def test_a_picture_is_a_photo_whatever_the_words() -> None:
    assert specifics("see this", has_media=True) == {"photo"}


def test_money_on_the_customers_own_account_is_an_account_matter() -> None:
    text = "you charged me $43.12 twice on 3/2"
    assert escalation.account_specific(text, specifics(text))
    question = "is the tune up $59?"  # an amount, but nothing moved on an account
    assert not escalation.account_specific(question, specifics(question))


# -- texting language to plain words --------------------------------------------------------------


def test_shorthand_is_expanded() -> None:
    words = Normaliser([])
    assert words("u open sun?") == "you open sunday?"
    assert words("thx!! see u tmrw") == "thanks!! see you tomorrow"
    assert words("can i resched my appt b4 fri") == "can i reschedule my appointment before friday"
    assert words("open 2nite? or 2day") == "open tonight? or today"
    assert words("return w/o receipt b/c it broke") == "return without receipt because it broke"


def test_misspellings_move_towards_the_vocabulary() -> None:
    words = Normaliser.from_texts(["Our return policy", "cancel your membership", "warranty"])
    assert words("wats ur retun polcy") == "whats your return policy"
    assert words("can i cancle my memebrship") == "can i cancel my membership"
    assert words("is my warrenty still good") == "is my warranty still good"


def test_real_words_numbers_and_order_ids_are_left_alone() -> None:
    words = Normaliser.from_texts(["missing package", "coupon code", "pause your membership"])
    assert words("hissing noise from the hub") == "hissing noise from the hub"  # not "missing"
    assert words("unpause it") == "unpause it"  # not "pause"
    assert words("where is AC12345?") == "where is ac12345?"
    assert words("order ac-4471 status") == "order ac-4471 status"
    assert words("$25.00 on 3/4 at 5:30pm") == "$25.00 on 3/4 at 5:30pm"


def test_spelling_is_kept_when_asked() -> None:
    words = Normaliser.from_texts(["Our return policy"])
    assert words("retun polcy pls", correct=False) == "retun polcy please"  # shorthand only
    assert words("cuando cierran hoy", correct=False) == "cuando cierran hoy"


def test_the_word_lists_load() -> None:
    assert shorthand()["appt"] == "appointment"
    assert {"the", "order", "sunday"} <= common_words()


# -- language -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("¿hasta que hora atienden el sabado?", "es"),
        ("¿tienen cascos para niños?", "es"),
        ("quiero devolver mi pedido", "es"),
        ("hola", "es"),
        ("what time do you open on saturday", "en"),
        ("do you have kids helmets", "en"),
        ("hola, what time do you open", "en"),  # more English than Spanish
        ("AC40991", "en"),  # nothing to go on: English
        ("", "en"),
    ],
)
def test_the_language_of_a_text(text: str, language: str) -> None:
    assert detect(text) == language


# -- guardrails -----------------------------------------------------------------------------------


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
