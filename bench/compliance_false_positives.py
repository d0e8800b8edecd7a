"""False-positive benchmark of the inbound compliance classifier (SPEC §6) on real customer texts.

None of these texts is a revocation of SMS consent: they are customer-support requests and
assistant queries (Bitext, BANKING77, CLINC150 incl. out-of-scope, HWU64). Every `opt_out` the
classifier returns on them is a false positive to review against the ambiguity policy (§6.4).
Tune on `--split train`; report on `--split test` only.

    .venv/bin/python bench/compliance_false_positives.py --split train
    .venv/bin/python bench/compliance_false_positives.py            # test split, writes the JSON
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from app.compliance.inbound import classify  # noqa: E402
from app.compliance.lexicon import ruleset_version  # noqa: E402
from app.compliance.model import SUBSCRIBED  # noqa: E402

TARGET_RATE = 0.001
"""At most 0.1% of these non-revocation texts may be classified as opt-outs."""


def _csv_column(path: Path, column: str) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [row[column] for row in csv.DictReader(handle)]


def _jsonl_texts(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle if line.strip()]


def _clinc(path: Path, keys: tuple[str, ...]) -> list[str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [text for key in keys for text, _intent in data[key]]


Loader = Callable[[Path], list[str]]

SPLITS: dict[str, dict[str, Loader]] = {
    "test": {
        "bitext": lambda root: _csv_column(
            root / "faq" / "bitext_customer_support_sample_4514.csv", "instruction"
        ),
        "banking77": lambda root: _csv_column(root / "banking77" / "test.csv", "text"),
        "clinc150": lambda root: _clinc(root / "clinc150" / "data_full.json", ("test", "oos_test")),
        "hwu64": lambda root: _jsonl_texts(root / "hwu64" / "test.jsonl"),
    },
    # Bitext has no split: it is held back for the test report.
    "train": {
        "banking77": lambda root: _csv_column(root / "banking77" / "train.csv", "text"),
        "clinc150": lambda root: _clinc(
            root / "clinc150" / "data_full.json", ("train", "val", "oos_train", "oos_val")
        ),
        "hwu64": lambda root: _jsonl_texts(root / "hwu64" / "train.jsonl"),
    },
}


def load(split: str, root: Path) -> Iterator[tuple[str, list[str]]]:
    """(dataset name, texts) for every dataset of `split`."""
    for name, loader in SPLITS[split].items():
        yield name, loader(root)


def run(split: str, root: Path) -> dict[str, Any]:
    """Classify every text of `split` as a subscribed sender's message; collect the opt-outs."""
    datasets: dict[str, Any] = {}
    total = opt_outs = helps = 0
    elapsed = 0.0
    for name, texts in load(split, root):
        found: list[dict[str, Any]] = []
        n_help = 0
        started = time.perf_counter()
        decisions = [classify(text, state=SUBSCRIBED) for text in texts]
        elapsed += time.perf_counter() - started
        for text, decision in zip(texts, decisions, strict=True):
            if decision.action == "help":
                n_help += 1
            elif decision.action == "opt_out":
                found.append(
                    {
                        "text": text,
                        "match": decision.match,
                        "keyword": decision.keyword,
                        "phrase_id": decision.phrase_id,
                        "ambiguous": decision.ambiguous,
                        "handoff": decision.handoff,
                    }
                )
        datasets[name] = {
            "count": len(texts),
            "opt_outs": len(found),
            "opt_out_rate": len(found) / len(texts) if texts else 0.0,
            "helps": n_help,
            "opt_out_examples": found,
        }
        total += len(texts)
        opt_outs += len(found)
        helps += n_help
    return {
        "split": split,
        "ruleset_version": ruleset_version(),
        "datasets": datasets,
        "total": {
            "count": total,
            "opt_outs": opt_outs,
            "opt_out_rate": opt_outs / total if total else 0.0,
            "helps": helps,
            "target_rate": TARGET_RATE,
            "within_target": total > 0 and opt_outs / total <= TARGET_RATE,
        },
        "throughput": {
            "messages": total,
            "seconds": round(elapsed, 3),
            "messages_per_second": round(total / elapsed) if elapsed else None,
        },
    }


def _summary_rows(result: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    rows = [
        (name, f"{d['count']:,}", str(d["opt_outs"]), f"{d['opt_out_rate']:.3%}", str(d["helps"]))
        for name, d in result["datasets"].items()
    ]
    t = result["total"]
    rows.append(
        (
            "TOTAL",
            f"{t['count']:,}",
            str(t["opt_outs"]),
            f"{t['opt_out_rate']:.3%}",
            str(t["helps"]),
        )
    )
    return rows


def print_summary(result: dict[str, Any]) -> None:
    """A readable table of the counts, then every opt-out found."""
    headers = ("dataset", "texts", "opt-outs", "rate", "help")
    rows = _summary_rows(result)
    speed = result["throughput"]
    title = f"Compliance false positives ({result['split']} split, {result['ruleset_version']})"
    opt_out_lines = [
        f"[{name}] {ex['match']:<8} {ex['keyword'] or ex['phrase_id']:<12} {ex['text']!r}"
        for name, d in result["datasets"].items()
        for ex in d["opt_out_examples"]
    ]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title)
        print("  ".join(f"{h:>10}" for h in headers))
        for row in rows:
            print("  ".join(f"{cell:>10}" for cell in row))
        print("\n".join(opt_out_lines))
    else:
        console = Console()
        table = Table(title=title)
        for header in headers:
            table.add_column(header, justify="left" if header == "dataset" else "right")
        for row in rows:
            table.add_row(*row, style="bold" if row[0] == "TOTAL" else None)
        console.print(table)
        for line in opt_out_lines:
            console.print(line, markup=False, highlight=False)
    verdict = "within" if result["total"]["within_target"] else "ABOVE"
    print(
        f"opt-out rate {result['total']['opt_out_rate']:.3%} ({verdict} target "
        f"{TARGET_RATE:.1%}); {speed['messages_per_second']:,} messages/s "
        f"({speed['messages']:,} in {speed['seconds']} s)"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write the JSON, print the summary (exit 1 above target with --check)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets",
        type=Path,
        default=REPO.parent / "shared" / "datasets",
        help="folder of the public datasets (default: ../shared/datasets from the repo)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=REPO / "bench" / "results" / "compliance_false_positives.json",
        help="where to write the results",
    )
    parser.add_argument("--split", choices=tuple(SPLITS), default="test")
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"exit 1 when the opt-out rate is above the target ({TARGET_RATE:.1%}%)",
    )
    args = parser.parse_args(argv)
    result = run(args.split, args.datasets)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print_summary(result)
    print(f"wrote {args.json}")
    return 1 if args.check and not result["total"]["within_target"] else 0


if __name__ == "__main__":
    sys.exit(main())
