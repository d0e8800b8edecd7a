"""The result of one eval suite: a JSON file for machines and a table for people."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class EvalReport:
    """`{"suite", "dataset", "metrics", "config"}`, plus optional detail rows (e.g. a curve)."""

    suite: str
    dataset: str
    metrics: dict[str, float]
    config: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    """Anything a person may want to look at: per-class scores, a trade-off curve, errors."""

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return asdict(self)

    def write(self, path: Path) -> None:
        """Write the report as JSON (parent folders are created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")

    def show(self, console: Console, references: dict[str, float] | None = None) -> None:
        """Print the metrics as a table, next to published reference figures when given."""
        table = Table(title=f"{self.suite} · {self.dataset}", title_justify="left")
        table.add_column("metric")
        table.add_column("measured", justify="right")
        if references:
            table.add_column("reference", justify="right")
        for name, value in self.metrics.items():
            shown = f"{value:.2f}" if isinstance(value, float) else str(value)
            row = [name, shown]
            if references:
                ref = references.get(name)
                row.append("" if ref is None else f"{ref:.2f}")
            table.add_row(*row)
        console.print(table)
