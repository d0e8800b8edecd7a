"""The regression gate: this run's metrics against a baseline, each within its tolerance.

A baseline is either a whole `results.json` of an earlier run or the slim file the repository
keeps (`evals/baseline.json`, written by `--save-baseline`):

    {"format": "smsdesk.eval-baseline", "suites": {"decisions:acme": {"handoff_recall": 81.2}}}

Only metrics that have a direction (`app.evals.metrics`) are gated; a suite the baseline does
not know, or a suite not run this time, is not compared.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.errors import InvalidInput
from app.evals.metrics import describe
from app.evals.report import EvalReport

BASELINE_FORMAT = "smsdesk.eval-baseline"


class InvalidBaseline(InvalidInput):
    """A baseline file that cannot be read, or a tolerance that cannot be parsed."""

    code = "invalid_baseline"


@dataclass(frozen=True)
class Check:
    """One metric compared with its baseline."""

    suite: str
    metric: str
    baseline: float
    value: float | None
    tolerance: float
    higher_is_better: bool
    regressed: bool


@dataclass(frozen=True)
class GateResult:
    """Every comparison, and whether the run may pass."""

    baseline: str
    checks: list[Check]

    @property
    def passed(self) -> bool:
        """No metric regressed beyond its tolerance."""
        return not any(check.regressed for check in self.checks)

    def to_json(self) -> dict[str, Any]:
        """The verdict as `results.json` keeps it."""
        return {
            "passed": self.passed,
            "baseline": self.baseline,
            "checks": [asdict(check) for check in self.checks],
        }


def load_baseline(path: Path) -> dict[str, dict[str, float]]:
    """Metrics by suite key (`suite:dataset`) from a baseline or a results file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidBaseline(f"cannot read the baseline {path}: {exc}") from None
    suites = data.get("suites") if isinstance(data, dict) else None
    if isinstance(suites, list):  # a results.json
        return {
            f"{s['suite']}:{s['dataset']}": dict(s["metrics"])
            for s in suites
            if isinstance(s, dict) and "suite" in s and "metrics" in s
        }
    if isinstance(suites, dict):
        return {key: dict(metrics) for key, metrics in suites.items()}
    raise InvalidBaseline(f"{path} is neither a baseline nor a results.json ('suites' missing)")


def parse_tolerances(values: list[str]) -> dict[str, float]:
    """`metric=value` or `suite:dataset.metric=value` overrides of the default tolerances."""
    tolerances: dict[str, float] = {}
    for value in values:
        name, sep, number = value.partition("=")
        try:
            tolerances[name.strip()] = float(number)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InvalidBaseline(f"--tolerance {value!r}: write it as METRIC=NUMBER")
    return tolerances


def compare(
    reports: list[EvalReport],
    baseline: dict[str, dict[str, float]],
    *,
    source: str,
    tolerances: dict[str, float] | None = None,
) -> GateResult:
    """Compare every gated metric of `reports` with the baseline."""
    overrides = tolerances or {}
    checks: list[Check] = []
    for report in reports:
        known = baseline.get(report.key)
        if known is None:
            continue
        for metric, before in known.items():
            info = describe(metric)
            if info.higher_is_better is None or before is None:
                continue
            tolerance = overrides.get(
                f"{report.key}.{metric}", overrides.get(metric, info.tolerance)
            )
            value = report.metrics.get(metric)
            if value is None:
                regressed = True
            elif info.higher_is_better:
                regressed = value < before - tolerance - 1e-9
            else:
                regressed = value > before + tolerance + 1e-9
            checks.append(
                Check(
                    report.key, metric, before, value, tolerance, info.higher_is_better, regressed
                )
            )
    return GateResult(source, checks)


def write_baseline(reports: list[EvalReport], path: Path, *, keep: Path | None = None) -> None:
    """Save these reports' metrics as the baseline (suites of `keep` not run now are kept)."""
    suites: dict[str, dict[str, float]] = {}
    if keep is not None and keep.exists():
        suites = load_baseline(keep)
    for report in reports:
        suites[report.key] = dict(report.metrics)
    data = {"format": BASELINE_FORMAT, "suites": dict(sorted(suites.items()))}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
