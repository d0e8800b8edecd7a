"""KW-1 for flows: a flow never invites a reserved keyword for another purpose.

"Reply CANCEL to cancel your appointment" would make every customer who follows it opted out
of all texts (CANCEL is an opt-out keyword, SPEC §4), and "Reply STOP to pause delivery" does
the same with a worse surprise. The outbound gate already reads instructions like these in any
text (`app.compliance.content`); a flow is checked with that same reader when it loads, so a
bad flow fails at `smsdesk flows check` instead of at 3 a.m. in the gate. Option keys are
checked against the keyword lists themselves: an option `cancel` is refused even though the
text never says "reply CANCEL".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from app.compliance.content import check_content
from app.compliance.lexicon import lexicon
from app.compliance.normalise import normalise, tokens

RULE = "KW-1"
_PLACEHOLDER = re.compile(r"\{[a-z][a-z0-9_]*\}")
_TEXT_FIELDS = frozenset({"text", "fallback"})


def reserved_keyword(word: str) -> str | None:
    """The canonical reserved keyword `word` spells (`cancel` -> CANCEL), else None."""
    found = lexicon().keywords_by_key.get("".join(tokens(normalise(word))), ())
    return found[0].canonical if found else None


def keyword_problems(data: Any) -> list[tuple[tuple[str, ...], str]]:
    """Every KW-1 problem of a flow file's data as (path in the file, message).

    Read from the raw YAML data, not the validated flow, so a file with a schema error still
    gets its KW-1 problems reported in the same run.
    """
    problems: list[tuple[tuple[str, ...], str]] = []
    for path, value in _walk(data, ()):
        if path[-1] in _TEXT_FIELDS and isinstance(value, str):
            # Variables are filled at send time: read the words around them with a stand-in.
            body = _PLACEHOLDER.sub("x", value)
            verdict = check_content(body, category="transactional", brand_name="x")
            problems += [(path, r) for r in verdict.reasons if r.startswith(f"{RULE}:")]
        elif path[-1] == "options" and isinstance(value, dict):
            for key in value:
                keyword = reserved_keyword(str(key))
                if keyword is not None:
                    problems.append(((*path, str(key)), _option_message(str(key), keyword)))
    return problems


def _option_message(key: str, keyword: str) -> str:
    return (
        f"{RULE}: option {key!r} is the reserved keyword {keyword}; a customer who sends it is "
        "opted out (or in, or sent HELP) by the compliance layer and never answers the "
        "question: use a digit or another word"
    )


def _walk(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    if path:
        yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _walk(child, (*path, str(key)))
