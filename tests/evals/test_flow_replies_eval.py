"""`smsdesk eval flow-replies`: a tiny labelled file read through the real code path (the
compliance layer, the flows' `read_reply` with the real sentence encoder), and the metrics
computed from it by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.ai.encoder import get_encoder
from app.evals.flow_replies import (
    SHIPPED_FLOWS,
    SPLITS,
    InvalidReplyFile,
    evaluate_flow_replies,
    load_replies,
)
from app.flows.loader import load_flows
from app.flows.matching import MeaningMatcher

TINY = """\
version: 1
variables:
  appointment_reminder: {slot_1: "Mon 10:00", slot_2: "Mon 15:00", slot_3: "Tue 9:00"}
cases:
- {flow: appointment_reminder, node: confirm, text: "1", label: confirm}
- {flow: appointment_reminder, node: confirm, text: "STOP", label: stop}
- {flow: appointment_reminder, node: confirm, text: "HELP", label: help}
- {flow: appointment_reminder, node: confirm, text: "what's your address?", label: other}
- {flow: appointment_reminder, node: pick_slot, text: "3", label: slot_3}
- {flow: appointment_reminder, node: pick_slot, text: "none", label: none_of_these}
- {flow: post_visit_feedback, node: rating, text: "5", label: rating_4}
- {flow: order_pickup, node: ready, text: "ok", label: other}
- {flow: post_visit_feedback, node: rating, text: "maybe", label: rating_3}
"""


def test_a_tiny_file_is_read_as_the_pipeline_reads_it_and_scored(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    matcher = MeaningMatcher(get_encoder(1), min_score=0.55, margin=0.05)
    report = evaluate_flow_replies(
        load_replies(path),
        split="tiny",
        path=path,
        catalogue=load_flows(SHIPPED_FLOWS),
        matcher=matcher,
    )
    read = {item["text"]: item["got"] for item in report.items}
    assert read == {
        "1": "1",
        "STOP": "stop",
        "HELP": "help",
        "what's your address?": "other",  # a question: the normal pipeline answers it
        "3": "3",  # the third offered slot
        "none": "4",  # the "none of these" option
        "5": "5",
        "ok": "1",  # a bare yes picks order_pickup's `means: yes` option
        "maybe": "fallback",  # meant as an answer, none read: the flow asks again
    }
    assert report.metrics == {
        "texts": 9.0,
        "reply_accuracy": 66.67,  # 6 of 9
        "answer_precision": 60.0,  # read as an option: 5, the right one: 3
        "answer_recall": 60.0,  # labelled options: 5, read right: 3
        "other_kept_out": 50.0,  # "ok" taken as an option
        "stop_help_agreement": 100.0,
        "wrong_options": 2.0,
        "answers_to_fallback": 20.0,
    }
    per_node, wrong = report.tables
    assert [row[0] for row in per_node.rows] == [
        "appointment_reminder.confirm",
        "appointment_reminder.pick_slot",
        "post_visit_feedback.rating",
        "order_pickup.ready",
    ]
    assert [row[1:5] for row in wrong.rows] == [
        ["5", "rating_4", "5", "key"],
        ["ok", "other", "1", "yes_no"],
    ]
    assert [f["text"] for f in report.failures] == ["5", "ok", "maybe"]


def test_a_label_the_question_does_not_have_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(TINY.replace("label: slot_3", "label: slot_9"))
    with pytest.raises(InvalidReplyFile, match=r"bad\.yaml:9: cases\.label: 'slot_9'"):
        load_replies(path)


def test_a_missing_field_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(TINY.replace('text: "HELP", ', ""))
    with pytest.raises(InvalidReplyFile, match=r"bad\.yaml:7: cases\.2\.text: Field required"):
        load_replies(path)


@pytest.mark.parametrize("split", ["dev", "test"])
def test_the_shipped_splits_load(split: str) -> None:
    assert len(load_replies(SPLITS[split]).cases) > 300
