"""`report.html`: one self-contained page of an eval run (no scripts, no external files).

`render_html` turns `EvalRun.to_json()` into plain view objects, then a Jinja2 template with
autoescaping lays them out: customer texts can hold any markup, and only the SVG that
`app.evals.plots` drew is inserted unescaped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from app.evals.metrics import MetricInfo, describe
from app.evals.plots import draw

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=StrictUndefined,  # a typo in the template fails the tests, not silently blank
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
HEADLINE_METRICS = 6
"""How many metrics of a suite the scorecard at the top shows."""
FAILURES_SHOWN = 30
"""Failures listed openly; the rest sit behind one `<details>`."""
CELL_CHARS = 160
"""Longer values fold into JSON in the items table, so that a row stays a few lines."""
CELL_PAIRS = 4
"""An object of up to this many pairs shows one pair a line in the items table."""
REPLY_CHARS = 140
"""A reply up to this long sits next to expected / got; a longer one gets its own row."""
_RECORD_KEYS = ("record", "decision")
_FAILURE_KEYS = {"id", "text", "verdict", "expected", "got", "reply", *_RECORD_KEYS}
_UNITS = {"%": "%", "ms": "ms", "count": "count", "ratio": "ratio", "s": "s", "$": "USD"}


@dataclass
class GateCheck:
    """One metric compared with the baseline."""

    suite: str
    label: str
    baseline: str
    value: str
    change: str
    tolerance: str
    regressed: bool


@dataclass
class MetricRow:
    """A metric as its table row and its scorecard line show it."""

    name: str
    label: str
    value: str
    unit: str
    direction: str
    check: GateCheck | None = None

    @property
    def status(self) -> str:
        """`pass`, `fail`, or `` when the gate did not look at this metric."""
        if self.check is None:
            return ""
        return "fail" if self.check.regressed else "pass"


@dataclass
class TableView:
    """A suite's table; titles starting with `_` are the long ones, shown folded."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    folded: bool


@dataclass
class PlotView:
    """A drawn plot, or the note shown instead of it."""

    title: str
    kind: str
    svg: Markup | None
    note: str
    wide: bool


@dataclass
class Retrieved:
    """One knowledge entry the retriever found, with its score."""

    entry: str
    score: str
    text: str
    percent: float
    """The score as the width of its bar (0-100)."""


@dataclass
class DecisionView:
    """The readable part of a decision record; the whole record is `json`."""

    facts: list[tuple[str, str]]
    retrieved: list[Retrieved]
    reasons: list[str]
    json: str

    @property
    def summary(self) -> str:
        """One line: `intent confidence · -> top entry score · reasons`."""
        facts = dict(self.facts)
        parts = [" ".join(facts[k] for k in ("intent", "confidence") if k in facts)]
        if self.retrieved:
            parts.append(f"→ {self.retrieved[0].entry} {self.retrieved[0].score}")
        if self.reasons:
            parts.append(", ".join(self.reasons))
        return " · ".join(p for p in parts if p)


@dataclass
class FailureView:
    """One item that went wrong."""

    id: str
    verdict: str
    text: str
    expected: list[tuple[str, str]]
    got: list[tuple[str, str]]
    reply: str | None
    long_reply: bool
    extra: list[tuple[str, str]]
    decision: DecisionView | None


@dataclass
class Cell:
    """An items-table cell: short text, or a summary that unfolds into JSON."""

    text: str
    json: str = ""


@dataclass
class ItemsView:
    """Every item's prediction, one row each."""

    columns: list[str]
    rows: list[list[Cell]]
    bad: list[bool]


@dataclass
class SuiteView:
    """One suite's section."""

    anchor: str
    suite: str
    dataset: str
    seconds: str
    metrics: list[MetricRow]
    headline: list[MetricRow]
    tables: list[TableView]
    plots: list[PlotView]
    failures: list[FailureView]
    failure_count: int
    items: ItemsView
    item_count: int
    data_files: list[tuple[str, str]]
    config: list[tuple[str, str]]
    details: str
    gate_status: str


@dataclass
class GateView:
    """The baseline comparison."""

    passed: bool
    baseline: str
    checks: list[GateCheck]
    regressions: int


@dataclass
class PageView:
    """Everything the template shows."""

    title: str
    command: str
    created_at: str
    version: str
    commit: str
    dirty: bool | None
    settings: list[tuple[str, str]]
    gate: GateView | None
    suites: list[SuiteView] = field(default_factory=list)


def render_html(data: dict[str, Any]) -> str:
    """The report page for `EvalRun.to_json()` data."""
    return _ENV.get_template("report.html.j2").render(page=page_view(data), shown=FAILURES_SHOWN)


def page_view(data: Mapping[str, Any]) -> PageView:
    """The view objects the template lays out."""
    code = _mapping(data.get("code"))
    commit = str(code.get("commit") or "")
    dirty = code.get("dirty")
    checks = _checks(data.get("gate"))
    suites = [_suite(i, _mapping(s), checks) for i, s in enumerate(_list(data.get("suites")))]
    names = ", ".join(dict.fromkeys(s.suite for s in suites)) or "no suites"
    return PageView(
        title=f"smsdesk evals · {names}",
        command=str(data.get("command") or ""),
        created_at=_when(data.get("created_at")),
        version=str(code.get("version") or "unknown"),
        commit=commit,
        dirty=dirty if isinstance(dirty, bool) else None,
        settings=[(str(k), compact(v)) for k, v in _mapping(data.get("settings")).items()],
        gate=_gate(data.get("gate"), checks),
        suites=suites,
    )


# --- the gate ----------------------------------------------------------------------------


def _checks(gate: Any) -> dict[tuple[str, str], GateCheck]:
    """The gate's checks by (suite or suite:dataset, metric)."""
    found: dict[tuple[str, str], GateCheck] = {}
    for raw in _list(_mapping(gate).get("checks")):
        check = _mapping(raw)
        suite, metric = str(check.get("suite", "")), str(check.get("metric", ""))
        info = describe(metric)
        value, baseline = _float(check.get("value")), _float(check.get("baseline"))
        change = "" if value is None or baseline is None else _delta(info, value - baseline)
        found[(suite, metric)] = GateCheck(
            suite=suite,
            label=info.label,
            baseline=info.format(baseline),
            value="missing" if value is None else info.format(value),
            change=change,
            tolerance=_delta(info, _float(check.get("tolerance")) or 0.0, signed=False),
            regressed=bool(check.get("regressed")),
        )
    return found


def _gate(gate: Any, checks: dict[tuple[str, str], GateCheck]) -> GateView | None:
    if not isinstance(gate, Mapping):
        return None
    ordered = sorted(checks.values(), key=lambda c: not c.regressed)  # regressions first
    return GateView(
        passed=bool(gate.get("passed")),
        baseline=str(gate.get("baseline") or ""),
        checks=ordered,
        regressions=sum(c.regressed for c in ordered),
    )


# --- one suite ---------------------------------------------------------------------------


def _suite(
    index: int, data: Mapping[str, Any], checks: dict[tuple[str, str], GateCheck]
) -> SuiteView:
    suite, dataset = str(data.get("suite") or "suite"), str(data.get("dataset") or "")
    # The gate names a suite by its key (`suite:dataset`); a bare suite name is accepted too.
    mine = {m: c for (s, m), c in checks.items() if s in (f"{suite}:{dataset}", suite)}
    values = dict(_mapping(data.get("metrics")))
    # A gated metric this run did not produce is listed too: it is why the gate failed.
    values |= {name: None for name in mine if name not in values}
    metrics = [_metric(str(name), value, mine.get(str(name))) for name, value in values.items()]
    failures = [_failure(_mapping(f)) for f in _list(data.get("failures"))]
    items = _list(data.get("items"))
    statuses = {m.status for m in metrics}
    return SuiteView(
        anchor=f"suite-{index + 1}",
        suite=suite,
        dataset=dataset,
        seconds=f"{_float(data.get('seconds')) or 0.0:.1f} s",
        metrics=metrics,
        headline=_headline(metrics),
        tables=[_table(_mapping(t)) for t in _list(data.get("tables"))],
        plots=[_plot(_mapping(p)) for p in _list(data.get("plots"))],
        failures=failures,
        failure_count=len(failures),
        items=_items([_mapping(i) for i in items]),
        item_count=len(items),
        data_files=[(str(k), str(v)) for k, v in _mapping(data.get("data_files")).items()],
        config=[(str(k), compact(v)) for k, v in _mapping(data.get("config")).items()],
        details=_json(data.get("details")) if data.get("details") else "",
        gate_status="fail" if "fail" in statuses else "pass" if "pass" in statuses else "",
    )


def _metric(name: str, value: Any, check: GateCheck | None) -> MetricRow:
    info = describe(name)
    direction = {True: "higher is better", False: "lower is better", None: "informational"}
    return MetricRow(
        name=name,
        label=info.label,
        value="missing" if value is None else info.format(_float(value)),
        unit=_UNITS.get(info.unit, info.unit),
        direction=direction[info.higher_is_better],
        check=check,
    )


def _headline(metrics: list[MetricRow]) -> list[MetricRow]:
    """The gated metrics (regressions first), else the first few: what a reader checks first."""
    checked = [m for m in metrics if m.check is not None]
    gated = [m for m in metrics if m.direction != "informational"]
    chosen = checked or gated or metrics
    return sorted(chosen, key=lambda m: m.status != "fail")[:HEADLINE_METRICS]


def _table(data: Mapping[str, Any]) -> TableView:
    title = str(data.get("title") or "")
    return TableView(
        title=title.lstrip("_") or "table",
        columns=[str(c) for c in _list(data.get("columns"))],
        rows=[[_cell(v) for v in _list(row)] for row in _list(data.get("rows"))],
        folded=title.startswith("_"),
    )


def _plot(data: Mapping[str, Any]) -> PlotView:
    kind = str(data.get("kind") or "")
    drawing = draw(kind, _mapping(data.get("data")))
    title = str(data.get("title") or kind)
    svg = None
    if drawing.svg is not None:
        # The SVG comes from matplotlib, which escapes the labels it writes as text; the
        # title is escaped here. role/aria-label: screen readers announce the plot by name.
        named = Markup('<svg role="img" aria-label="{}"').format(title)
        svg = Markup(drawing.svg.replace("<svg", str(named), 1))
    return PlotView(title, kind, svg, drawing.note, drawing.wide)


def _failure(data: Mapping[str, Any]) -> FailureView:
    record = next((data[k] for k in _RECORD_KEYS if isinstance(data.get(k), Mapping)), None)
    reply = data.get("reply")
    return FailureView(
        id=str(data.get("id") or ""),
        verdict=str(data.get("verdict") or ""),
        text=str(data.get("text") or ""),
        expected=_pairs(data.get("expected")),
        got=_pairs(data.get("got")),
        reply=None if reply is None else str(reply),
        long_reply=reply is not None and (len(str(reply)) > REPLY_CHARS or "\n" in str(reply)),
        extra=[(str(k), compact(v)) for k, v in data.items() if k not in _FAILURE_KEYS],
        decision=_decision(record) if record is not None else None,
    )


def _decision(record: Mapping[str, Any]) -> DecisionView:
    facts: list[tuple[str, str]] = []
    if "intent" in record or "confidence" in record:
        intent = str(record.get("intent") or "–")
        if record.get("out_of_scope"):
            intent += " (out of scope)"
        facts.append(("intent", intent))
    if record.get("confidence") is not None:
        facts.append(("confidence", compact(record.get("confidence"))))
    sentiment = record.get("sentiment")
    if isinstance(sentiment, Mapping):
        label = str(sentiment.get("label") or "")
        negative = sentiment.get("negative")
        facts.append(
            (
                "sentiment",
                f"{label} (negative {compact(negative)})" if negative is not None else label,
            )
        )
    for key in ("mode", "team", "entry_id", "draft_mode", "latency_ms"):
        if record.get(key) is not None:
            facts.append((key.replace("_", " "), compact(record[key])))
    failed = [
        str(_mapping(g).get("name"))
        for g in _list(record.get("guardrails"))
        if not _mapping(g).get("passed", True)
    ]
    if failed:
        facts.append(("guardrails failed", ", ".join(failed)))
    retrieved = [_retrieved(_mapping(hit)) for hit in _list(record.get("retrieved"))]
    reasons = [str(r) for r in _list(record.get("reasons"))]
    return DecisionView(facts, retrieved, reasons, _json(record))


def _retrieved(hit: Mapping[str, Any]) -> Retrieved:
    score = _float(hit.get("score"))
    return Retrieved(
        entry=str(hit.get("entry_id") or "?"),
        score=f"{score:.3f}" if score is not None else "–",
        text=str(hit.get("matched_text") or ""),
        percent=round(100 * min(1.0, max(0.0, score or 0.0)), 1),
    )


def _items(items: list[Mapping[str, Any]]) -> ItemsView:
    """Columns are every key the items have, in first-seen order; records fold into JSON."""
    columns = list(dict.fromkeys(str(k) for item in items for k in item))
    rows = [[_item_cell(k, item.get(k)) for k in columns] for item in items]
    bad = [_is_bad(item) for item in items]
    return ItemsView(columns, rows, bad)


def _item_cell(key: str, value: Any) -> Cell:
    if key in _RECORD_KEYS and isinstance(value, Mapping):
        decision = _decision(value)
        return Cell(decision.summary or "record", decision.json)
    text = compact(value)
    small = isinstance(value, Mapping) and len(value) <= CELL_PAIRS and len(text) <= CELL_CHARS
    if small and not _nested(value):  # a small object reads best one pair a line
        return Cell("\n".join(f"{k}: {compact(v)}" for k, v in _mapping(value).items()))
    if _nested(value) or (not isinstance(value, str) and len(text) > CELL_CHARS):
        return Cell(_summary(value), _json(value))
    return Cell(text)


def _is_bad(item: Mapping[str, Any]) -> bool:
    """Whether the item went wrong, by the keys suites use for that."""
    verdict = item.get("verdict")
    if isinstance(verdict, str):
        return verdict not in ("right", "passed", "pass", "correct", "ok")
    for key in ("correct", "passed", "right"):
        if isinstance(item.get(key), bool):
            return not item[key]
    return False


# --- values as text ----------------------------------------------------------------------


def compact(value: Any) -> str:
    """A value on one line: `a, b` for lists, `key: value · key: value` for objects."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, Mapping):
        return " · ".join(f"{k}: {compact(v)}" for k, v in value.items())
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ", ".join(compact(v) for v in value)
    return str(value)


def _cell(value: Any) -> str:
    """A table cell as the console shows it (floats to two places)."""
    if isinstance(value, float):
        return f"{value:.2f}"
    return compact(value)


def _pairs(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        return [(str(k), compact(v)) for k, v in value.items()]
    return [] if value is None else [("", compact(value))]


def _scalars(value: Any) -> bool:
    """A scalar, or a list of scalars."""
    if isinstance(value, list):
        return not any(isinstance(v, Mapping | list) for v in value)
    return not isinstance(value, Mapping)


def _nested(value: Any) -> bool:
    """Objects or lists within: too much for one line of a cell (flat lists in an object are
    fine: `label: answer · entry: billing.refund`)."""
    if isinstance(value, Mapping):
        return not all(_scalars(v) for v in value.values())
    return not _scalars(value)


def _summary(value: Any) -> str:
    """What a folded cell shows: its first pairs, or how many entries it has."""
    if isinstance(value, Mapping):
        pairs = [f"{k}: {_clip(compact(v), 30)}" for k, v in list(value.items())[:3]]
        more = f" · +{len(value) - 3} more" if len(value) > 3 else ""
        return " · ".join(pairs) + more if pairs else "{}"
    size = len(value) if isinstance(value, list) else 0
    return f"{size} {'entry' if size == 1 else 'entries'}"


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _delta(info: MetricInfo, delta: float, *, signed: bool = True) -> str:
    number = f"{delta:+.2f}" if signed else f"{delta:.2f}"
    if info.unit == "%":
        return f"{number} pts"
    if info.unit in ("ms", "s"):
        return f"{number} {info.unit}"
    if info.unit == "count":
        return f"{delta:+.0f}" if signed else f"{delta:.0f}"
    if info.unit == "$":
        return f"{delta:+.4f} USD" if signed else f"{delta:.4f} USD"
    return number


def _when(value: Any) -> str:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value or "")
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []
