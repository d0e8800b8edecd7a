"""Bodies that once made classification super-linear, at any length (bench and tests share them).

Each shape repeats a unit that stresses one part of SPEC §5-§6: keyword-fragment letters that
a letter-by-letter spelling could continue (`s s s`), a keyword with several spellings
(`opt out`), many marketing phrases with SCOPE-2 on (`stop the promos.`), one unbroken segment
of many clauses, guards, negations, clock times, stretched letters and invisible characters.
"""

from __future__ import annotations

SHAPES: dict[str, str] = {
    "fragment letters": "x ",
    "spelled letter runs": "s ",
    "many spellings": "opt out x and ",
    "keywords": "stop ",
    "marketing phrases": "stop the promos. ",
    "phrases and clauses": "stop the promos and the texts ",
    "questions": "how do i ",
    "clauses": "hello and ",
    "segments": "hi. ",
    "clock times": "3:30 ",
    "guards": "stop by ",
    "negations": "dont stop ",
    "residual objects": "cancel my order ",
    "crisis words": "end my ",
    "stretched letters": "stooooooooo",
    "apostrophes": "don't ",
    "invisible characters": "s\u200bt\u200bo\u200bp ",
    "long words": "a" * 1000 + " ",
    "plain text": "Where is my order? It was supposed to arrive yesterday, thanks. ",
}


def long_body(shape: str, length: int) -> str:
    """`length` characters of `shape`'s unit, repeated."""
    unit = SHAPES[shape]
    return (unit * (length // len(unit) + 1))[:length]
