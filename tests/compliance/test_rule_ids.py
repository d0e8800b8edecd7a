"""Every compliance rule id the repository cites is explained in `docs/compliance.md`.

Code comments cite the compliance specification's rule ids (`IN-2`, `QH-5`, `RES-1`), but the
specification lives outside the repository; the page documents them so a clone stands alone.
This test keeps it that way: a new citation of an undocumented id fails here, as does an id the
specification defines that the page forgot.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO

DOC = REPO / "docs" / "compliance.md"
# Every rule id the specification defines (its sections 0-13, with the RES-1 amendment).
SPEC_IDS = frozenset(
    ["ARCH-1", "ARCH-2", "ARCH-3", "ARCH-4"]
    + ["FCC-1", "FCC-1a", "FCC-2", "FCC-3", "FCC-4", "FCC-5", "FCC-6", "CTIA-1", "STATE-1"]
    + [f"IN-{n}" for n in range(1, 12)]
    + ["KW-1", "PROV-1", "PROV-2"]
    + [f"NORM-{n}" for n in range(1, 8)]
    + ["SCOPE-1", "SCOPE-2", "AI-1", "AI-2", "AI-3", "TIME-1", "TIME-2", "TIME-3"]
    + [f"QH-{n}" for n in range(1, 11)]
    + ["TZ-1", "TZ-2", "TZ-3", "REC-1", "REC-2", "REC-3", "REC-4"]
    + ["MSG-1", "MSG-2", "MSG-3", "MSG-4", "RES-1"]
)
_PREFIXES = sorted({rule_id.split("-")[0] for rule_id in SPEC_IDS})
# One or two digits: case ids of the case file (`IN-001`, `QH-101`) are not rule ids.
RULE_ID = re.compile(rf"\b(?:{'|'.join(_PREFIXES)})-\d{{1,2}}[a-z]?\b")
_DOCUMENTED_ROW = re.compile(r"^\| ([A-Z]+-\d{1,2}[a-z]?) \|", re.MULTILINE)
_SCANNED = ("app", "tests", "evals", "bench", "scripts", "prompts", "knowledge")
_SUFFIXES = {".py", ".yaml", ".yml", ".md", ".jsonl", ".json", ".csv", ".html", ".txt", ".toml"}
_SKIPPED_PARTS = {"__pycache__", "node_modules", ".venv", "data_cache"}


def cited_ids() -> dict[str, str]:
    """Each rule id cited in the repository's code, data and tests, with one file citing it."""
    files = [REPO / "README.md", REPO / "Makefile", REPO / "pyproject.toml"]
    for folder in _SCANNED:
        files += [
            path
            for path in (REPO / folder).rglob("*")
            if path.is_file()
            and path.suffix in _SUFFIXES
            and not _SKIPPED_PARTS.intersection(path.parts)
        ]
    found: dict[str, str] = {}
    for path in files:
        if not path.is_file() or path == Path(__file__).resolve():
            continue  # this file names made-up ids on purpose
        text = path.read_text(encoding="utf-8", errors="replace")
        for rule_id in RULE_ID.findall(text):
            found.setdefault(rule_id, str(path.relative_to(REPO)))
    return found


def documented_ids() -> set[str]:
    """Ids that head a row of a table in `docs/compliance.md`."""
    return set(_DOCUMENTED_ROW.findall(DOC.read_text(encoding="utf-8")))


def test_every_rule_id_cited_in_the_repository_is_documented() -> None:
    cited = cited_ids()
    assert {"IN-2", "QH-5", "KW-1", "RES-1"} <= set(cited)  # the scan reads the code
    missing = {
        rule_id: where for rule_id, where in cited.items() if rule_id not in documented_ids()
    }
    assert missing == {}, "explain these ids in docs/compliance.md (first file citing each)"


def test_every_rule_the_specification_defines_is_documented() -> None:
    assert sorted(SPEC_IDS - documented_ids()) == []


def test_cited_ids_are_rules_the_specification_defines() -> None:
    # A typo ("QH-11", "IN-12") would otherwise be documented into existence.
    unknown = {rule_id: where for rule_id, where in cited_ids().items() if rule_id not in SPEC_IDS}
    assert unknown == {}


def test_the_readme_links_the_page() -> None:
    assert "docs/compliance.md" in (REPO / "README.md").read_text(encoding="utf-8")


def test_the_case_ids_are_not_mistaken_for_rule_ids() -> None:
    assert RULE_ID.findall("IN-001 QH-101 IN-2 FCC-1a NORM-7") == ["IN-2", "FCC-1a", "NORM-7"]
