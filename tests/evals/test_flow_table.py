"""The conversations report's Flows table: per flow, scenarios run and passed, run figures."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from app.config import Settings
from app.evals.conversations import ScenarioResult, _report
from app.evals.flow_table import ALL_FLOWS, COLUMNS, ScenarioFlows, flows_section
from app.evals.report import EvalRun
from app.evals.scenarios import Scenario
from app.storage.tables import FlowRun

AT = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def run(flow: str, status: str, *, outcome: str | None = None, reply: int | None = 2) -> FlowRun:
    return FlowRun(
        id=uuid.uuid4(),
        flow=flow,
        status=status,
        outcome=outcome,
        started_at=AT,
        first_reply_at=AT + reply * MIN if reply is not None else None,
    )


def scenario(number: int, flows: ScenarioFlows | None, file: Path) -> ScenarioResult:
    result = ScenarioResult(
        Scenario.model_validate(
            {"id": f"s{number}", "description": "a flow", "turns": [{"customer": "1"}]}
        ),
        file,
    )
    result.flows = flows
    return result


def figures() -> list[ScenarioFlows]:
    stop_mid_flow = run("appointment_reminder", "opted_out", reply=1)
    person = run("appointment_reminder", "handed_off", reply=5)
    return [
        ScenarioFlows(True, [run("appointment_reminder", "completed", outcome="confirmed")]),
        ScenarioFlows(True, [stop_mid_flow]),
        ScenarioFlows(False, [person], {person.id}),
        ScenarioFlows(True, [run("appointment_reminder", "expired", reply=None)]),
        ScenarioFlows(True, [run("post_visit_feedback", "completed", outcome="rated_5")]),
        ScenarioFlows(True, []),  # a scenario without a flow
    ]


def test_per_flow_and_overall_rows() -> None:
    section = flows_section(figures())
    assert section is not None
    table, plot, data = section
    assert table.title == "Flows" and table.columns == COLUMNS
    rows = {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in table.rows}
    reminder = rows["appointment_reminder"]
    assert (reminder["scenarios"], reminder["passed"], reminder["runs"]) == (4, 3, 4)
    assert reminder["reply rate"] == "75%" and reminder["completed"] == "25% (1)"
    assert reminder["outcomes"] == "confirmed 1"
    assert (reminder["hand-offs"], reminder["opt-outs"], reminder["expired"]) == (1, 1, 1)
    assert reminder["first reply p50"] == "2 min"
    overall = rows[ALL_FLOWS]
    assert (overall["scenarios"], overall["passed"], overall["runs"]) == (5, 4, 5)
    assert data["post_visit_feedback"]["mean_rating"] == 5.0
    assert plot.data["categories"] == ["appointment_reminder", "post_visit_feedback"]
    assert plot.data["series"]["completed"] == [1, 1]


def test_no_flow_scenarios_no_table(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text("scenarios: []\n")
    assert flows_section([]) is None
    assert flows_section([ScenarioFlows(True, [])]) is None
    results = [scenario(1, ScenarioFlows(True, []), file), scenario(2, None, file)]
    report = _report(results, tmp_path, 0.1)
    assert [t.title for t in report.tables] == ["By tag", "Failed assertions"]
    assert "flows" not in report.details


def test_the_table_is_in_the_console_output_and_the_html_report(tmp_path: Path) -> None:
    file = tmp_path / "flows.yaml"
    file.write_text("scenarios: []\n")
    results = [scenario(i, flows, file) for i, flows in enumerate(figures())]
    report = _report(results, tmp_path, 1.0)
    assert [t.title for t in report.tables] == ["By tag", "Flows", "Failed assertions"]
    assert report.details["flows"][ALL_FLOWS]["runs"] == 5
    shown = io.StringIO()
    report.show(Console(file=shown, width=200))
    assert "Flows" in shown.getvalue() and "appointment_reminder" in shown.getvalue()
    page = EvalRun.of("smsdesk eval conversations", [report], Settings(env="test")).write(
        tmp_path / "out"
    )
    html = page.read_text()
    assert '<h4 class="table-title">Flows</h4>' in html
    assert "<td>appointment_reminder</td>" in html and "<td>confirmed 1</td>" in html
    assert "Flow runs by how they ended" in html
