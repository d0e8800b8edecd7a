"""report.html: one self-contained page, every plot kind drawn as SVG, customer text escaped."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from app.evals.html import render_html
from app.evals.plots import draw
from app.evals.report import EvalReport, EvalRun, Plot, Table

HOSTILE = '<script>alert(1)</script> "quotes" & ampersands'
ENTRIES = ["billing.refund", "billing.invoice", "orders.track", "orders.cancel", "store.hours"]
EDGES = [round(0.1 * i, 1) for i in range(11)]


def _record(rng: random.Random, entry: str, right: bool) -> dict[str, Any]:
    hits = [entry, *rng.sample([e for e in ENTRIES if e != entry], 2)]
    if not right:
        hits.reverse()
    return {
        "mode": "local",
        "intent": hits[0].split(".")[0],
        "confidence": round(rng.uniform(0.6, 0.99) if right else rng.uniform(0.2, 0.7), 4),
        "out_of_scope": False,
        "team": "support",
        "sentiment": {"label": "negative", "negative": round(rng.random(), 4)},
        "retrieved": [
            {"entry_id": h, "score": round(0.8 - 0.15 * i, 4), "matched_text": f"about {h}"}
            for i, h in enumerate(hits)
        ],
        "reasons": [] if right else ["low_confidence", "negative_sentiment"],
        "latency_ms": round(rng.uniform(8, 30), 2),
    }


def _decisions(rng: random.Random) -> EvalReport:
    items: list[dict[str, Any]] = []
    for number in range(40):
        entry = ENTRIES[number % len(ENTRIES)]
        right = number % 7 != 3
        text = HOSTILE if number % 7 == 3 else f"when does my {entry.split('.')[1]} arrive?"
        items.append(
            {
                "id": f"dec-{number:03d}",
                "text": text,
                "tags": ["sms"],
                "expected": {"label": "answer", "entry": [entry]},
                "got": {"outcome": "answer" if right else "handoff", "entries": [entry]},
                "verdict": "right" if right else "handed off",
                "reply": f"Acme: about {entry}. Reply STOP to opt out." if right else None,
                "record": _record(rng, entry, right),
            }
        )
    failures = [
        {key: item[key] for key in ("id", "text", "verdict", "expected", "got", "reply", "record")}
        for item in items
        if item["verdict"] != "right"
    ]
    matrix = [
        [30 if r == c else (2 if (r + c) % 3 == 0 else 0) for c in range(6)] for r in range(5)
    ]
    return EvalReport(
        suite="decisions",
        dataset="labelled",
        metrics={"texts": 40.0, "answer_right": 85.0, "answer_wrong": 2.5, "latency_p95_ms": 28.1},
        config={"file": "evals/decisions/labelled.yaml", "texts": 40},
        tables=[
            Table(
                "By label", ["label", "texts", "right"], [["answer", 40, 85.0], [HOSTILE, 1, 0.5]]
            ),
            Table(
                "_Thresholds tried", ["threshold", "right"], [[0.1 * i, 80.0 + i] for i in range(5)]
            ),
        ],
        plots=[
            Plot(
                "bars",
                "What happened, by label",
                {
                    "categories": ["answer", "handoff", "optout"],
                    "series": {
                        "right": [85, 92, 100],
                        "wrong answer": [2.5, 0, 0],
                        "handed off": [12.5, 8, 0],
                    },
                    "unit": "%",
                    "stacked": True,
                },
            ),
            Plot(
                "confusion",
                "Entries confused",
                {"labels": ENTRIES, "columns": [*ENTRIES, "(handed off)"], "matrix": matrix},
            ),
            Plot(
                "histogram",
                "Intent confidence of answered texts",
                {
                    "bins": EDGES,
                    "series": {
                        "right entry": [0, 0, 0, 1, 2, 3, 5, 8, 9, 6],
                        "wrong entry": [0, 1, 2, 2, 1, 0, 0, 0, 0, 0],
                    },
                    "xlabel": "calibrated intent confidence",
                },
            ),
            Plot(
                "reliability",
                "Intent confidence vs a right answer",
                {"bins": [[0.45, 0.4, 5], [0.65, 0.6, 9], [0.85, 0.9, 20], [0.95, 0.97, 6]]},
            ),
            Plot("histogram", "Retrieval score (nothing scored)", {"bins": [], "series": {}}),
        ],
        failures=failures,
        items=items,
        data_files={"evals/decisions/labelled.yaml": "0f" * 32},
        seconds=12.3,
    )


def _intents() -> EvalReport:
    labels = [f"intent_{i:02d}" for i in range(30)]
    matrix = [
        [25 if r == c else int((r * 7 + c) % 41 == 0) * 3 for c in range(30)] for r in range(30)
    ]
    curve = [[40 + 1.3 * i, round(100 - 1.1 * i - (i / 10) ** 2, 2)] for i in range(41)]
    return EvalReport(
        suite="intents",
        dataset="clinc150",
        metrics={"in_scope_accuracy": 91.4, "oos_recall": 71.3},
        config={"oos_method": "max_softmax", "threshold": 0.4312},
        plots=[
            Plot(
                "curve",
                "In-scope accuracy vs out-of-scope recall",
                {
                    "series": {"test": curve},
                    "xlabel": "out-of-scope recall (%)",
                    "ylabel": "in-scope accuracy (%)",
                    "marker": [71.3, 91.4],
                    "marker_label": "shipped threshold 0.431",
                },
            ),
            Plot(
                "reliability",
                "Calibration",
                {"bins": [[0.3, 0.2, 40], [0.7, 0.75, 300], [0.95, 0.96, 2000]]},
            ),
            Plot("confusion", "Intent confusion", {"labels": labels, "matrix": matrix}),
            Plot(
                "bars",
                "Accuracy per domain",
                {
                    "categories": ["banking", "travel", "work"],
                    "unit": "%",
                    "series": {"frozen": [93.1, 95.2, 91.0], "fine-tuned": [95.0, 96.1, 92.4]},
                },
            ),
        ],
        failures=[{"id": "clinc-7", "text": HOSTILE, "expected": "transfer", "got": "balance"}],
        items=[
            {"id": f"clinc-{i}", "text": "what is my balance", "correct": i % 5 != 0}
            for i in range(20)
        ],
        data_files={"data/clinc150/data_full.json": "ab" * 32},
        seconds=80.5,
    )


def sample_run() -> EvalRun:
    """Two suites covering every plot kind, tables, failures with markup, and a failed gate."""
    rng = random.Random(3)
    return EvalRun(
        command="smsdesk eval decisions --baseline evals/baseline.json",
        reports=[_decisions(rng), _intents()],
        settings={"brand_name": "Acme", "intent_min_confidence": 0.55, "llm_model": None},
        code={"version": "0.1.0", "commit": "1796f8c3277c" + "0" * 28, "dirty": True},
        created_at="2026-03-10T11:00:00+00:00",
        gate={
            "passed": False,
            "baseline": "evals/baseline.json",
            "checks": [
                {
                    "suite": "decisions:labelled",
                    "metric": "answer_right",
                    "baseline": 86.0,
                    "value": 85.0,
                    "tolerance": 1.0,
                    "regressed": False,
                },
                {
                    "suite": "decisions:labelled",
                    "metric": "answer_wrong",
                    "baseline": 1.5,
                    "value": 2.5,
                    "tolerance": 0.5,
                    "regressed": True,
                },
                {
                    "suite": "intents:clinc150",
                    "metric": "oos_recall",
                    "baseline": 70.0,
                    "value": 71.3,
                    "tolerance": 2.0,
                    "regressed": False,
                },
            ],
        },
    )


def drawn_plots(run: EvalRun) -> int:
    """How many of the run's plots have data to draw."""
    return sum(draw(p.kind, p.data).svg is not None for r in run.reports for p in r.plots)


def test_write_gives_results_json_and_a_self_contained_page(tmp_path: Path) -> None:
    run = sample_run()
    page = run.write(tmp_path)
    assert page == tmp_path / "report.html"
    assert json.loads((tmp_path / "results.json").read_text(encoding="utf-8")) == run.to_json()

    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>")
    assert "<script" not in html.lower()  # the data's script tags arrive escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &#34;quotes&#34; &amp; ampersands" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched
    assert "<link" not in html
    assert html.count("<svg") == drawn_plots(run) == 8
    assert html.count('class="nodata"') == 1
    assert "No data: no bins." in html


def test_page_shows_the_gate_the_scorecard_and_every_failure(tmp_path: Path) -> None:
    run = sample_run()
    html = run.write(tmp_path).read_text(encoding="utf-8")
    assert "Gate failed" in html
    assert html.count('class="pill fail">regressed') == 2  # baseline table and metrics table
    assert 'class="card fail"' in html and 'class="card pass"' in html
    assert "answerable: wrong entry" in html and "2.5%" in html
    failures = sum(len(r.failures) for r in run.reports)
    assert html.count('<article class="failure">') == failures
    assert html.count("decision record (JSON)") == len(run.reports[0].failures)
    assert "low_confidence" in html and "about billing.refund" in html
    assert html.count("<tr") > len(run.reports[0].items)  # every item has its row
    assert "uncommitted changes" in html and "1796f8c3277c" in html
    assert "0f" * 32 in html and "max_softmax" in html


def test_rendering_is_deterministic() -> None:
    data = sample_run().to_json()
    assert render_html(data) == render_html(json.loads(json.dumps(data)))


@pytest.mark.parametrize(
    ("kind", "data"),
    [(p.kind, p.data) for r in sample_run().reports for p in r.plots if p.data.get("series") != {}],
)
def test_every_kind_draws_the_same_inline_svg_twice(kind: str, data: dict[str, Any]) -> None:
    first, second = draw(kind, data), draw(kind, data)
    assert first.svg is not None, first.note
    assert first.svg == second.svg
    assert first.svg.startswith("<svg") and first.svg.endswith("</svg>")
    assert "<?xml" not in first.svg and "<!DOCTYPE" not in first.svg
    assert "<text" in first.svg  # text stays text (svg.fonttype none)
    assert "<dc:date>" not in first.svg


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("bars", {}),
        ("bars", {"categories": ["a", "b"], "series": {"x": [1]}}),
        ("bars", {"categories": ["a"], "series": {"x": ["many"]}}),
        ("confusion", {"labels": ["a", "b"], "matrix": [[1, 2]]}),
        ("confusion", {"labels": ["a"], "matrix": [[0]]}),
        ("histogram", {"bins": [0, 1], "series": {"x": [0]}}),
        ("histogram", {"bins": [1, 0], "series": {"x": [3]}}),
        ("curve", {"series": {"x": [1, 2, 3]}}),
        ("curve", {"series": {"x": []}}),
        ("reliability", {"bins": [[0.5, 0.5]]}),
        ("reliability", {"bins": None}),
        ("pie", {"slices": [1, 2]}),
    ],
)
def test_empty_or_malformed_data_gives_a_note(kind: str, data: dict[str, Any]) -> None:
    drawing = draw(kind, data)
    assert drawing.svg is None
    assert drawing.note.startswith("No data")


def test_markup_in_plot_labels_is_escaped() -> None:
    drawing = draw("bars", {"categories": [HOSTILE, "$5 & $6"], "series": {HOSTILE: [1, 2]}})
    assert drawing.svg is not None
    assert "<script" not in drawing.svg
    assert "&lt;script&gt;" in drawing.svg


def test_sixty_labels_make_a_wide_confusion_matrix() -> None:
    labels = [f"intent_{i}" for i in range(60)]
    matrix = [[10 if r == c else 0 for c in range(60)] for r in range(60)]
    drawing = draw("confusion", {"labels": labels, "matrix": matrix})
    assert drawing.svg is not None and drawing.wide
    assert drawing.svg.count("intent_59") == 2  # a row and a column label


def test_sparse_or_odd_data_still_renders() -> None:
    html = render_html({})
    assert "No suites" in html and "Gate" not in html
    html = render_html(
        {
            "suites": [{"suite": "odd", "metrics": {"made_up": 3.0}, "plots": [{"kind": "pie"}]}],
            "gate": {
                "passed": False,
                "baseline": "b.json",
                "checks": [
                    {
                        "suite": "odd",
                        "metric": "made_up",
                        "baseline": 1.0,
                        "value": None,
                        "tolerance": 0.0,
                        "regressed": True,
                    }
                ],
            },
        }
    )
    assert "made up" in html and "missing" in html
    assert 'class="card fail"' in html  # the missing metric regressed the suite
    assert "No data: unknown plot kind" in html


def test_plot_titles_are_escaped_in_the_page_and_the_svg_label() -> None:
    run = sample_run()
    run.reports[0].plots[0].title = HOSTILE
    html = render_html(run.to_json())
    assert "<script" not in html.lower()
    assert 'aria-label="&lt;script&gt;alert(1)&lt;/script&gt; &#34;quotes&#34;' in html
