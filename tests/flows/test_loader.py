"""Loading flow files: the shipped flows are valid; every bad file is refused with its file,
line and what is wrong, KW-1 named; and `smsdesk flows check|list|send`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.compliance.segments import count_segments
from app.config import get_settings
from app.flows import InvalidFlowFile, load_flows
from app.flows.keywords import reserved_keyword
from app.flows.schema import placeholders
from tests.flows.conftest import FLOWS

runner = CliRunner()
SHIPPED = {
    "appointment_reminder": {"confirm": {"1", "2"}, "pick_slot": {"4", "none"}},
    "order_pickup": {"ready": {"1", "2", "3"}},
    "delivery_exception": {"exception": {"1", "2", "3"}},
    "subscription_renewal": {"renewal": {"1", "2", "3", "4"}},
    "payment_reminder": {"payment": {"1", "2", "3"}},
    "post_visit_feedback": {"rating": {"1", "2", "3", "4", "5"}, "more": set()},
    "lead_qualification": {"need": {"1", "2", "3", "4"}, "timeline": {"1", "2", "3"}},
    "satisfaction_survey": {"csat": {"1", "2", "3", "4", "5"}, "more": set()},
}
GOOD = """\
name: {name}
description: a test flow
category: transactional
variables: [name]
text: "{{brand}}: Hi {{name}}. Reply 1 to confirm or 2 to reschedule."
start: q
fallback: "Reply 1 or 2."
nodes:
  q:
    options:
      "1": {{outcome: confirmed}}
      "2": {{outcome: rescheduled}}
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(InvalidFlowFile) as caught:
        load_flows(folder)
    return caught.value.problems


def test_the_shipped_flows_are_the_contract() -> None:
    catalogue = load_flows(FLOWS)
    assert {f.name: {n: set(node.options) for n, node in f.nodes.items()} for f in catalogue} == (
        SHIPPED
    )
    assert catalogue.get("lead_qualification").category == "marketing"  # type: ignore[union-attr]
    for flow in catalogue:
        assert "brand" in placeholders(flow.text), flow.name  # MSG-2: the first text names it
        for where, template in flow.templates():
            assert count_segments(template).encoding == "GSM-7", (flow.name, where)
        for node in flow.nodes.values():
            assert not [k for k in node.options if reserved_keyword(k)]


def test_a_good_file_loads(tmp_path: Path) -> None:
    write(tmp_path, "good", GOOD.format(name="good"))
    assert [f.name for f in load_flows(tmp_path)] == ["good"]


@pytest.mark.parametrize(
    ("old", "new", "line", "expected"),
    [
        ("category: transactional", "category: sometimes", 3, "category: Input should be"),
        ("Reply 1 to confirm or 2 to reschedule.", "Reply CANCEL to cancel your appointment.", 5,
         "text: KW-1: asks for the reserved keyword CANCEL for another purpose"),
        ("Reply 1 to confirm or 2 to reschedule.", "Reply STOP to pause delivery.", 5,
         "text: KW-1: asks for the reserved keyword STOP"),
        ('"2": {outcome: rescheduled}', "cancel: {outcome: rescheduled}", 12,
         "nodes.q.options.cancel: KW-1: option 'cancel' is the reserved keyword CANCEL"),
        ('"2": {outcome: rescheduled}', '"yes": {outcome: rescheduled}', 12,
         "nodes.q.options.yes: KW-1: option 'yes' is the reserved keyword YES"),
        ('"2": {outcome: rescheduled}', "no: {outcome: rescheduled}", 11,
         "nodes.q.options: an option key read as false: quote yes/no/on/off keys"),
        ('"2": {outcome: rescheduled}', '"2": {next: nowhere}', 12,
         "nodes.q.options.2: next 'nowhere' is not one of the nodes"),
        ('"2": {outcome: rescheduled}', '"2": {label: two}', 12,
         "nodes.q.options.2: an option needs at least one of text, outcome, next or handoff"),
        ("Hi {name}", "Hi {nmae}", 5, "text: unknown variable {nmae}"),
        ("start: q", "start: r", 1, "(top level): start 'r' is not one of the nodes"),
        ("name: bad", "name: other", 1, "name: 'other' differs from the file name 'bad'"),
    ],
)  # fmt: skip
def test_every_problem_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, expected: str
) -> None:
    source = GOOD.format(name="bad")
    assert old in source
    path = write(tmp_path, "bad", source.replace(old, new))
    (problem,) = problems_of(tmp_path)
    assert problem.startswith(f"{path}:{line}: "), problem
    assert expected in problem, problem


def test_problems_of_every_file_are_reported_together(tmp_path: Path) -> None:
    write(tmp_path, "one", GOOD.format(name="one").replace("Reply 1", "Reply END"))
    write(tmp_path, "two", "name: [unclosed")
    write(tmp_path, "three", GOOD.format(name="three").replace("category: transactional", ""))
    problems = problems_of(tmp_path)
    assert len(problems) == 3
    assert any("one.yaml:5: text: KW-1" in p for p in problems)
    assert any("two.yaml:1: not valid YAML" in p for p in problems)
    assert any("three.yaml:1: category: Field required" in p for p in problems)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMSDESK_ENV", "test")
    monkeypatch.setenv("SMSDESK_BOT", "off")
    monkeypatch.setenv("SMSDESK_FLOWS_DIR", str(FLOWS))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_check_exits_1_listing_every_problem(tmp_path: Path, env: None) -> None:
    folder = tmp_path / "flows"
    write(folder, "one", GOOD.format(name="one").replace("Reply 1", "Reply QUIT"))
    write(folder, "two", GOOD.format(name="two").replace("start: q", "start: r"))
    result = runner.invoke(app, ["flows", "check", str(folder)])
    assert result.exit_code == 1
    assert "one.yaml:5: text: KW-1" in result.output and "two.yaml:1:" in result.output
    assert "2 problem(s)" in result.output
    ok = runner.invoke(app, ["flows", "check", str(FLOWS)])
    assert ok.exit_code == 0 and "8 flow(s)" in ok.output


def test_list_and_send(env: None) -> None:
    listed = runner.invoke(app, ["flows", "list"])
    assert listed.exit_code == 0 and "order_pickup" in listed.output
    args = ["flows", "send", "order_pickup", "--to", "+12125550123", "--var", "name=Ana"]
    refused = runner.invoke(app, [*args, "--key", "cli-1"])
    assert refused.exit_code == 2 and "missing_variable" in refused.output
    sent = runner.invoke(app, [*args, "--var", "order=A-1", "--key", "cli-1"])
    assert sent.exit_code == 0 and "order_pickup started" in sent.output, sent.output
    again = runner.invoke(app, [*args, "--var", "order=A-1", "--key", "cli-1"])
    assert "already started" in again.output
    bad = runner.invoke(app, ["flows", "send", "order_pickup", "--to", "+1", "--var", "oops"])
    assert bad.exit_code == 2 and "name=value" in bad.output
