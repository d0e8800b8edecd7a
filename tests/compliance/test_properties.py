"""Property-based tests of the normaliser (SPEC §5) and the inbound classifier (SPEC §6).

An attacker, a phone keyboard or a carrier can wrap a keyword in anything: the properties
below say that no wrapping of the ways §5 folds away may hide a STOP or a HELP, and that no
text at all may make the layer raise.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.compliance.inbound import classify
from app.compliance.model import OPTED_OUT, SUBSCRIBED, ConsentState, Policy
from app.compliance.normalise import _CONFUSABLES, normalise

# A profile of its own, applied per test rather than loaded globally, so the rest of the
# suite keeps whatever profile it runs under. 150 examples keep this file under ~5 s.
settings.register_profile(
    "compliance",
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile("compliance")
FEW = settings(PROFILE, max_examples=10)

ACTIONS = {"opt_out", "opt_in", "help", "pass"}
MARKETING_CUTOFF = datetime(2027, 1, 31, tzinfo=UTC)
STATES = (SUBSCRIBED, OPTED_OUT, ConsentState("opted_out", "marketing"))
POLICIES = (
    Policy(),
    Policy(strict_mode=True),
    Policy(marketing_only_revocations_until=MARKETING_CUTOFF),
)

OPT_OUT_KEYWORDS = (
    "STOP",
    "STOPALL",
    "STOP ALL",
    "UNSUBSCRIBE",
    "UNSUB",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPT OUT",
    "OPT-OUT",
    "OPTOUT",
    "REMOVE",
    "EXIT",
    "ALTO",
    "PARAR",
    "DETENER",
    "CANCELAR",
    "BAJA",
    "NO MAS",
    "ARRET",
)
HELP_KEYWORDS = ("HELP", "INFO", "AYUDA", "AIDE")

ZERO_WIDTH = ("\u200b", "\u2060", "\ufeff", "\u00ad", "\u200c", "\u200d")
BIDI = ("\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2069")
WRAP_SPACE = (" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2009")
WRAP_PUNCT = (".", "!", "!!!", "?", ",", ";", ":", "'", '"', "#", "*", "(", ")", "...", "…", "-")

# NORM-3: for every Latin letter, the look-alikes the reviewed table maps to it.
LOOKALIKES: dict[str, list[str]] = {}
for _char, _latin in _CONFUSABLES.items():
    LOOKALIKES.setdefault(_latin, []).append(_char)


def _fullwidth(letter: str) -> str:
    return chr(ord(letter) - 0x21 + 0xFF01)


@st.composite
def disguised_letter(draw: st.DrawFn, letter: str) -> str:
    """One letter of a keyword: any case, fullwidth or a Cyrillic/Greek look-alike."""
    cased = draw(st.sampled_from((letter.lower(), letter.upper())))
    forms = [cased, _fullwidth(cased), *LOOKALIKES.get(cased, ())]
    return draw(st.sampled_from(forms))


@st.composite
def disguised(draw: st.DrawFn, keyword: str) -> str:
    """`keyword` with every letter disguised and invisible characters between the letters."""
    out: list[str] = []
    for i, char in enumerate(keyword):
        if char in " -":
            # `OPT OUT` = `OPT-OUT` = `OPTOUT` (§4): the separator itself may change.
            out.append(draw(st.sampled_from((" ", "-", ""))))
            continue
        if i > 0:
            out.append("".join(draw(st.lists(st.sampled_from(ZERO_WIDTH), max_size=2))))
        out.append(draw(disguised_letter(char)))
    return "".join(out)


def wrapping() -> st.SearchStrategy[str]:
    """Whitespace, punctuation and bidi marks around a keyword."""
    return st.lists(st.sampled_from(WRAP_SPACE + WRAP_PUNCT + BIDI + ZERO_WIDTH), max_size=4).map(
        "".join
    )


# Any code point, lone surrogates and controls included, plus a bias towards the characters
# §5 treats specially.
SPECIAL = (
    ZERO_WIDTH
    + BIDI
    + tuple(_CONFUSABLES)
    + ("\ud800", "\udfff", "\x00", "\x1b", "\x7f", "\u0085", "\u2028", "\u2029", "\u034f")
    + ("\ufe0f", "\u20e3", "\u0301", "\u0130", "ß", "ﬁ", "'", "’", "&", "\U0001f6d1")
)
any_char = st.one_of(
    st.characters(codec=None, exclude_categories=()),
    st.sampled_from(SPECIAL),
)
any_text = st.text(alphabet=any_char, max_size=200)


@PROFILE
@given(any_text)
def test_normalise_never_raises_and_is_idempotent(text: str) -> None:
    once = normalise(text)
    assert isinstance(once, str)
    assert normalise(once) == once


@settings(PROFILE, max_examples=20)
@given(st.text(alphabet=any_char, min_size=1, max_size=64))
def test_normalise_is_idempotent_on_100kb_bodies(chunk: str) -> None:
    body = (chunk * (100_000 // len(chunk) + 1))[:100_000]
    once = normalise(body)
    assert normalise(once) == once


@PROFILE
@given(any_text, st.sampled_from(STATES), st.sampled_from(POLICIES))
def test_classify_never_raises_and_returns_a_known_action(
    text: str, state: ConsentState, policy: Policy
) -> None:
    decision = classify(
        text, state=state, received_at=datetime(2026, 6, 1, tzinfo=UTC), policy=policy
    )
    assert decision.action in ACTIONS
    assert decision.forward_to_ai == (decision.action == "pass")
    if decision.action == "opt_out":
        assert decision.new_state == "opted_out"
        assert decision.scope in ("all", "marketing")
    else:
        assert decision.scope is None
        assert decision.handoff is False


@PROFILE
@given(st.data(), st.sampled_from(OPT_OUT_KEYWORDS), wrapping(), wrapping())
def test_disguised_stop_keyword_is_an_opt_out(
    data: st.DataObject, keyword: str, before: str, after: str
) -> None:
    body = before + data.draw(disguised(keyword), label="keyword") + after
    for state in (SUBSCRIBED, OPTED_OUT):
        decision = classify(body, state=state)
        assert decision.action == "opt_out", (body, decision)
        assert decision.scope == "all"


@PROFILE
@given(st.data(), st.sampled_from(HELP_KEYWORDS), wrapping(), wrapping())
def test_disguised_help_keyword_is_help(
    data: st.DataObject, keyword: str, before: str, after: str
) -> None:
    body = before + data.draw(disguised(keyword), label="keyword") + after
    decision = classify(body, state=SUBSCRIBED)
    assert decision.action == "help", (body, decision)
    assert decision.new_state == "subscribed"


@PROFILE
@given(st.sampled_from(OPT_OUT_KEYWORDS[:14]), st.integers(min_value=1, max_value=6))
def test_stretched_keyword_is_an_opt_out(keyword: str, extra: int) -> None:
    # NORM-6: `STOOOOP`, `STOPPPP`: any letter repeated still reads as the keyword.
    letters = [i for i, char in enumerate(keyword) if char.isalpha()]
    for i in (letters[0], letters[len(letters) // 2], letters[-1]):
        body = keyword[:i] + keyword[i] * (extra + 1) + keyword[i + 1 :]
        assert classify(body).action == "opt_out", body


FILLER_SENTENCES = (
    "My blender arrived with a cracked jar and the box was wet.",
    "Can you tell me when the store opens on Sunday?",
    "I was charged twice for the same order, please check.",
    "The courier left the parcel at the wrong door again",
    "Is the blue jacket available in a medium size",
)


@FEW
@given(st.sampled_from(FILLER_SENTENCES), st.sampled_from(("STOP", "unsubscribe", "Cancel")))
def test_stop_clause_at_the_end_of_a_100kb_body_is_found(sentence: str, keyword: str) -> None:
    # IN-10: the whole body is scanned, whatever its length.
    prefix = (sentence + " ") * (100_000 // (len(sentence) + 1) + 1)
    body = prefix[:100_000] + ". " + keyword
    assert len(body) > 100_000
    decision = classify(body)
    assert decision.action == "opt_out"
    # A lone "unsubscribe" segment is the P3 phrase (Tier 2 comes before the clause tier).
    assert decision.match in ("clause", "phrase")
    assert decision.handoff is True


@FEW
@given(st.sampled_from(FILLER_SENTENCES))
def test_100kb_body_without_a_revocation_passes(sentence: str) -> None:
    body = ((sentence + " ") * (100_000 // (len(sentence) + 1) + 1))[:100_000]
    assert classify(body).action == "pass"
