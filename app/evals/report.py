"""What an eval suite produces, and the run that collects suites into one report directory.

    evals/reports/<suite>-<timestamp>/
      results.json   code version, settings, data checksums, every suite's metrics, tables,
                     plots (as data), failures and per-item predictions with decision records
      report.html    one self-contained page of the same (tables, failures, SVG plots)

`EvalReport` is one suite's result; `EvalRun` is what one `smsdesk eval` command ran.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.table import Table as RichTable

from app.config import Settings
from app.evals.metrics import describe

PlotKind = Literal["bars", "confusion", "histogram", "curve", "reliability"]
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Table:
    """A table people read: per-class scores, a confusion list, timings."""

    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class Plot:
    """A plot, as data; `app.evals.html` draws it.

    Shapes of `data` by kind:
      bars:        {"categories": [...], "series": {name: [values...]}, "unit": "%"}
                   (stacked when "stacked": true)
      confusion:   {"labels": [...], "matrix": [[count...]...]} (rows: expected, cols: got)
      histogram:   {"bins": [edges...], "series": {name: [counts...]}, "xlabel": str}
      curve:       {"series": {name: [[x, y]...]}, "xlabel": str, "ylabel": str,
                    "marker": [x, y] | None, "marker_label": str}
      reliability: {"bins": [[confidence, accuracy, count]...]}
    """

    kind: PlotKind
    title: str
    data: dict[str, Any]


@dataclass
class EvalReport:
    """One suite's result: metrics for the gate, and everything a person looks at."""

    suite: str
    dataset: str
    metrics: dict[str, float]
    config: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    """Anything else worth keeping: a trade-off curve, candidates tried, reference sources."""
    tables: list[Table] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    """Items that went wrong, each with its text, what was expected, what happened, the reply
    and the decision record."""
    items: list[dict[str, Any]] = field(default_factory=list)
    """Every item's prediction (and decision record, where there is one)."""
    data_files: dict[str, str] = field(default_factory=dict)
    """sha256 of each data file the suite read (path -> digest)."""
    seconds: float = 0.0

    @property
    def key(self) -> str:
        """`suite:dataset`, the name the baseline keeps its metrics under."""
        return f"{self.suite}:{self.dataset}"

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return asdict(self)

    def write(self, path: Path) -> None:
        """Write the report alone as JSON (parent folders are created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")

    def show(self, console: Console, references: dict[str, float] | None = None) -> None:
        """Print the metrics as a table, next to published reference figures when given."""
        table = RichTable(
            title=f"{self.suite} · {self.dataset}  ({self.seconds:.1f} s)", title_justify="left"
        )
        table.add_column("metric")
        table.add_column("measured", justify="right")
        if references:
            table.add_column("reference", justify="right")
        for name, value in self.metrics.items():
            row = [describe(name).label, describe(name).format(value)]
            if references:
                ref = references.get(name)
                row.append("" if ref is None else f"{ref:.2f}")
            table.add_row(*row)
        console.print(table)
        for extra in self.tables:
            if extra.title.startswith("_"):
                continue
            console.print(_rich_table(extra))
        if self.failures:
            console.print(f"[bold]{len(self.failures)} failures[/bold] (listed in report.html)")


def _rich_table(table: Table) -> RichTable:
    shown = RichTable(title=table.title, title_justify="left")
    for column in table.columns:
        shown.add_column(column)
    for row in table.rows:
        shown.add_row(*(_cell(value) for value in row))
    return shown


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def sha256_of(path: Path) -> str:
    """The digest of a file, or of every file under a folder (names and contents)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def code_version() -> dict[str, Any]:
    """smsdesk's version and, in a checkout, the git commit (and whether it has changes)."""
    try:
        package = version("smsdesk")
    except PackageNotFoundError:
        package = "unknown"
    found: dict[str, Any] = {"version": package}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=5
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "app", "knowledge", "prompts", "evals"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return found
    if commit.returncode == 0:
        found["commit"] = commit.stdout.strip()
        found["dirty"] = bool(status.stdout.strip())
    return found


_SETTINGS_SHOWN = (
    "brand_name",
    "knowledge_dir",
    "prompts_dir",
    "intent_min_confidence",
    "negative_sentiment_threshold",
    "retrieval_min_score",
    "max_reply_chars",
    "business_hours",
    "business_timezone",
    "sla_first_response_minutes",
    "llm_base_url",
    "llm_model",
)


@dataclass
class EvalRun:
    """Everything one `smsdesk eval` command ran, written as one report directory."""

    command: str
    reports: list[EvalReport]
    settings: dict[str, Any]
    code: dict[str, Any] = field(default_factory=code_version)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    gate: dict[str, Any] | None = None
    """The baseline comparison, when one was asked for (see `app.evals.gate`)."""

    @classmethod
    def of(cls, command: str, reports: list[EvalReport], settings: Settings) -> EvalRun:
        """A run of `reports` under `settings` (only the settings that shape the results)."""
        shown = {name: getattr(settings, name) for name in _SETTINGS_SHOWN}
        return cls(command, reports, json.loads(json.dumps(shown, default=str)))

    def to_json(self) -> dict[str, Any]:
        """`results.json`'s content."""
        return {
            "format": "smsdesk.eval-results",
            "format_version": 1,
            "command": self.command,
            "created_at": self.created_at,
            "code": self.code,
            "settings": self.settings,
            "gate": self.gate,
            "suites": [report.to_json() for report in self.reports],
        }

    def write(self, folder: Path) -> Path:
        """Write `results.json` and `report.html` into `folder`; returns the HTML's path."""
        from app.evals.html import render_html

        folder.mkdir(parents=True, exist_ok=True)
        data = self.to_json()
        (folder / "results.json").write_text(
            json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
        )
        page = folder / "report.html"
        page.write_text(render_html(data), encoding="utf-8")
        return page


def default_out_dir(suite: str, *, root: Path | None = None) -> Path:
    """`evals/reports/<suite>-<timestamp>/` (UTC, to the second)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return (root or Path("evals") / "reports") / f"{suite}-{stamp}"
