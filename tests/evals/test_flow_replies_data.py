"""The labelled flow replies (evals/flows/replies_*.yaml) stay valid, split and big enough.

The reply matcher is measured on these files, so a typo in a label, a dev text leaking into the
held-out split or a node shrinking below its minimum would quietly change what the figures mean.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass

import pytest
import yaml

from app.compliance import classify
from tests.conftest import REPO

FLOWS_EVAL = REPO / "evals" / "flows"
SPLITS = ("dev", "test")

# The shipped flows' question nodes and the meaning of each option (COMMON.md, issue 14).
OPTIONS: dict[tuple[str, str], frozenset[str]] = {
    ("appointment_reminder", "confirm"): frozenset({"confirm", "reschedule"}),
    ("appointment_reminder", "pick_slot"): frozenset(
        {"slot_1", "slot_2", "slot_3", "none_of_these"}
    ),
    ("order_pickup", "ready"): frozenset({"on_my_way", "someone_else", "person"}),
    ("delivery_exception", "exception"): frozenset({"reschedule_delivery", "pickup", "person"}),
    ("subscription_renewal", "renewal"): frozenset({"keep", "skip", "pause", "change_plan"}),
    ("payment_reminder", "payment"): frozenset({"send_link", "already_paid", "person"}),
    ("post_visit_feedback", "rating"): frozenset({f"rating_{n}" for n in range(1, 6)}),
    ("lead_qualification", "need"): frozenset({"road", "mountain", "ebike", "kids"}),
    ("lead_qualification", "timeline"): frozenset({"this_week", "this_month", "just_looking"}),
    ("satisfaction_survey", "csat"): frozenset({f"rating_{n}" for n in range(1, 6)}),
}
NOT_AN_ANSWER = frozenset({"other", "stop", "help"})
# The nodes most customers answer in their own words get more cases.
LARGER_NODES = {
    ("appointment_reminder", "confirm"),
    ("order_pickup", "ready"),
    ("delivery_exception", "exception"),
}
MIN_PER_NODE = 25
MIN_PER_LARGER_NODE = 40
MIN_OTHER_SHARE = 0.15
MIN_PER_OPTION = 2
CASE_KEYS = {"flow", "node", "text", "label"}


@dataclass(frozen=True)
class Case:
    """One labelled reply and the line it starts on, for messages that point at it."""

    flow: str
    node: str
    text: str
    label: str
    line: int

    @property
    def where(self) -> str:
        return f"line {self.line} ({self.flow}.{self.node}: {self.text!r})"


def normalised(text: str) -> str:
    """Lower case, without punctuation (any script), spaces collapsed: how texts are compared."""
    kept = "".join(ch for ch in text.lower() if not unicodedata.category(ch).startswith("P"))
    return " ".join(kept.split())


def load_split(split: str) -> tuple[dict[str, object], list[Case]]:
    """The file's top level and its cases; a broken case fails the test with its line."""
    path = FLOWS_EVAL / f"replies_{split}.yaml"
    source = path.read_text(encoding="utf-8")
    root = yaml.safe_load(source)
    assert isinstance(root, dict), f"{path}: the top level must be a mapping"
    assert root.get("version") == 1, f"{path}: version must be 1"
    nodes = yaml.compose(source)
    assert isinstance(nodes, yaml.MappingNode)
    case_nodes = next(value for key, value in nodes.value if key.value == "cases")
    assert isinstance(case_nodes, yaml.SequenceNode), f"{path}: cases must be a list"
    cases = []
    for raw, node in zip(root["cases"], case_nodes.value, strict=True):
        line = node.start_mark.line + 1
        assert isinstance(raw, dict), f"{path}:{line}: a case is a mapping"
        assert set(raw) == CASE_KEYS, f"{path}:{line}: a case has exactly {sorted(CASE_KEYS)}"
        assert all(isinstance(raw[key], str) for key in CASE_KEYS), f"{path}:{line}: strings only"
        assert raw["text"].strip(), f"{path}:{line}: empty text"
        cases.append(Case(raw["flow"], raw["node"], raw["text"], raw["label"], line))
    return root, cases


@pytest.fixture(scope="module")
def splits() -> dict[str, tuple[dict[str, object], list[Case]]]:
    return {split: load_split(split) for split in SPLITS}


@pytest.mark.parametrize("split", SPLITS)
def test_every_case_names_a_shipped_question_and_one_of_its_labels(
    split: str, splits: dict[str, tuple[dict[str, object], list[Case]]]
) -> None:
    _root, cases = splits[split]
    for case in cases:
        allowed = OPTIONS.get((case.flow, case.node))
        assert allowed is not None, f"{split} {case.where}: unknown flow or node"
        assert case.label in allowed | NOT_AN_ANSWER, (
            f"{split} {case.where}: label {case.label!r} is not one of {sorted(allowed)} "
            f"or {sorted(NOT_AN_ANSWER)}"
        )


@pytest.mark.parametrize("split", SPLITS)
def test_every_question_has_enough_cases_options_and_non_answers(
    split: str, splits: dict[str, tuple[dict[str, object], list[Case]]]
) -> None:
    _root, cases = splits[split]
    for question, options in OPTIONS.items():
        mine = [case for case in cases if (case.flow, case.node) == question]
        labels = Counter(case.label for case in mine)
        minimum = MIN_PER_LARGER_NODE if question in LARGER_NODES else MIN_PER_NODE
        name = ".".join(question)
        assert len(mine) >= minimum, f"{split} {name}: {len(mine)} cases, at least {minimum}"
        assert labels["other"] >= MIN_OTHER_SHARE * len(mine), (
            f"{split} {name}: {labels['other']} of {len(mine)} are 'other', "
            f"at least {MIN_OTHER_SHARE:.0%}"
        )
        for option in options:
            assert labels[option] >= MIN_PER_OPTION, f"{split} {name}: too few {option!r}"
        assert labels["stop"] and labels["help"], f"{split} {name}: needs a STOP and a HELP"


@pytest.mark.parametrize("split", SPLITS)
def test_no_text_repeats_within_a_question(
    split: str, splits: dict[str, tuple[dict[str, object], list[Case]]]
) -> None:
    _root, cases = splits[split]
    seen: dict[tuple[str, str, str], Case] = {}
    for case in cases:
        key = (case.flow, case.node, normalised(case.text))
        assert key not in seen, f"{split} {case.where} repeats {seen[key].where}"
        seen[key] = case


def test_no_text_is_in_both_the_dev_and_the_held_out_split(
    splits: dict[str, tuple[dict[str, object], list[Case]]],
) -> None:
    dev = {normalised(case.text): case for case in splits["dev"][1]}
    shared = [
        f"test {case.where} = dev {dev[normalised(case.text)].where}"
        for case in splits["test"][1]
        if normalised(case.text) in dev
    ]
    assert not shared, "\n".join(shared)


def test_each_split_offers_its_own_slots(
    splits: dict[str, tuple[dict[str, object], list[Case]]],
) -> None:
    offered = []
    for split in SPLITS:
        variables = splits[split][0]["variables"]
        assert isinstance(variables, dict)
        slots = variables["appointment_reminder"]
        assert set(slots) == {"slot_1", "slot_2", "slot_3"}, split
        offered.append(set(slots.values()))
    assert not offered[0] & offered[1], "the held-out split must offer other slots"


@pytest.mark.parametrize("split", SPLITS)
def test_stop_and_help_labels_agree_with_the_compliance_layer(
    split: str, splits: dict[str, tuple[dict[str, object], list[Case]]]
) -> None:
    """Compliance wins inside a flow: a text it reads as STOP/HELP is labelled so, and only those.

    If a compliance rule changes (say Spanish "para mi hija" stops being read as PARA), this
    fails and names the cases to relabel.
    """
    expected = {"opt_out": "stop", "help": "help"}
    wrong = []
    for case in splits[split][1]:
        action = classify(case.text).action
        want = expected.get(action)
        got = case.label if case.label in ("stop", "help") else None
        if want != got:
            wrong.append(f"{case.where}: labelled {case.label}, the compliance layer says {action}")
    assert not wrong, "\n".join(wrong)
