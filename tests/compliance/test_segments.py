"""SMS segment counting (SPEC §12 MSG-1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.compliance.segments import SegmentCount, count_segments


def test_empty_body_is_one_gsm_segment_of_zero_units() -> None:
    assert count_segments("") == SegmentCount("GSM-7", 0, 1, 160)


@pytest.mark.parametrize(
    ("length", "segments", "per_segment"),
    [(1, 1, 160), (160, 1, 160), (161, 2, 153), (306, 2, 153), (307, 3, 153), (459, 3, 153)],
)
def test_gsm7_boundaries(length: int, segments: int, per_segment: int) -> None:
    assert count_segments("a" * length) == SegmentCount("GSM-7", length, segments, per_segment)


def test_gsm7_accented_letters_of_the_default_alphabet_stay_gsm7() -> None:
    # é è ñ ü Ä Ø are in GSM 03.38; they cost one septet each.
    count = count_segments("éèñüÄØ@£$¥")
    assert (count.encoding, count.units, count.segments) == ("GSM-7", 10, 1)


@pytest.mark.parametrize("char", [*"€[]{}\\^~|", "\x0c"])
def test_extension_characters_count_two_septets(char: str) -> None:
    assert count_segments(char).units == 2
    assert count_segments(char * 80) == SegmentCount("GSM-7", 160, 1, 160)
    assert count_segments("a" * 159 + char).segments == 2


def test_extension_pair_is_not_split_across_segments() -> None:
    # 152 + 2 + 152 = 306 septets: plain division says 2 segments, but "€" cannot straddle the
    # 153rd septet, so it opens segment 2 and the last septet spills into a third.
    straddling = "a" * 152 + "€" + "a" * 152
    assert count_segments(straddling) == SegmentCount("GSM-7", 306, 3, 153)
    aligned = "a" * 153 + "€" + "a" * 151
    assert count_segments(aligned) == SegmentCount("GSM-7", 306, 2, 153)


@pytest.mark.parametrize(
    ("length", "segments", "per_segment"),
    [(1, 1, 70), (70, 1, 70), (71, 2, 67), (134, 2, 67), (135, 3, 67)],
)
def test_ucs2_boundaries(length: int, segments: int, per_segment: int) -> None:
    # "á" is not in GSM 03.38 (only "à" is).
    assert count_segments("á" * length) == SegmentCount("UCS-2", length, segments, per_segment)


@pytest.mark.parametrize("char", ["á", "’", "“", "ç", "😀", "\u00a0", "ı"])
def test_one_character_outside_gsm7_switches_the_whole_body(char: str) -> None:
    count = count_segments("a" * 100 + char)
    assert count.encoding == "UCS-2"
    assert count.segments == 2


def test_emoji_counts_two_code_units() -> None:
    assert count_segments("😀") == SegmentCount("UCS-2", 2, 1, 70)
    assert count_segments("😀" * 35) == SegmentCount("UCS-2", 70, 1, 70)
    assert count_segments("😀" * 35 + "a") == SegmentCount("UCS-2", 71, 2, 67)


def test_surrogate_pair_is_not_split_across_segments() -> None:
    # 66 + 2 + 66 = 134 units fits 2 x 67 by division, but the emoji would straddle unit 67.
    assert count_segments("a" * 66 + "😀" + "a" * 66) == SegmentCount("UCS-2", 134, 3, 67)
    assert count_segments("a" * 67 + "😀" + "a" * 65) == SegmentCount("UCS-2", 134, 2, 67)


def test_lone_surrogates_count_as_one_ucs2_unit() -> None:
    assert count_segments("\ud800") == SegmentCount("UCS-2", 1, 1, 70)
    assert count_segments("abc\udfff") == SegmentCount("UCS-2", 4, 1, 70)
    assert count_segments("a" * 70 + "\ud83d") == SegmentCount("UCS-2", 71, 2, 67)


def test_bare_escape_character_is_not_gsm7() -> None:
    # U+001B has no character of its own in GSM-7: it would merge with the next septet.
    assert count_segments("a\x1be").encoding == "UCS-2"


@given(st.text(alphabet=st.characters(exclude_categories=())))
def test_never_raises_and_counts_consistently(text: str) -> None:
    count = count_segments(text)
    assert count.segments >= 1
    assert count.units >= len(text)
    if count.segments == 1:
        assert count.units <= count.per_segment
    else:
        assert count.per_segment in (153, 67)
        # Packing wastes at most one unit per segment boundary.
        assert count.units <= count.segments * count.per_segment
        assert count.units > (count.segments - 1) * (count.per_segment - 1)
