"""The reports as CSV: one header row, durations in whole seconds (the unit is in the header)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import timedelta

from app.console.agent_report import AgentReport
from app.console.metrics import DashboardMetrics

AGENT_COLUMNS = (
    "agent_email",
    "agent_name",
    "items_handled",
    "items_answered",
    "first_response_median_business_seconds",
    "first_response_p90_business_seconds",
    "resolution_median_business_seconds",
    "survey_responses",
    "survey_mean_score_1_to_5",
)


def _seconds(value: timedelta | None) -> str:
    """Whole seconds, or empty when there is nothing to measure."""
    return "" if value is None else str(round(value.total_seconds()))


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def agents_csv(report: AgentReport) -> str:
    """One row per agent, as the Reports page shows them."""
    return _table(
        AGENT_COLUMNS,
        [
            (
                r.email,
                r.name,
                r.handled,
                r.answered,
                _seconds(r.first_response_median),
                _seconds(r.first_response_p90),
                _seconds(r.resolution_median),
                r.survey_responses,
                "" if r.survey_mean is None else f"{r.survey_mean:.2f}",
            )
            for r in report.rows
        ],
    )


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def dashboard_csv(m: DashboardMetrics) -> str:
    """The dashboard's figures, one `metric,value,unit` row each (traffic per bucket last)."""
    rows: list[tuple[str, object, str]] = [
        ("period_start_utc", m.window.start.isoformat(), "ISO 8601"),
        ("period_end_utc", m.window.end.isoformat(), "ISO 8601"),
        ("queue_open", m.queue.open, "items"),
        ("queue_claimed", m.queue.claimed, "items"),
        ("oldest_wait", _seconds(m.queue.oldest_wait), "seconds"),
        ("escalations", m.escalations, "items"),
        ("first_response_answered", m.response.answered, "items"),
        ("first_response_median", _seconds(m.response.median), "seconds"),
        ("first_response_p90", _seconds(m.response.p90), "seconds"),
        ("sla_items_with_target", m.response.with_target, "items"),
        ("sla_breaches", m.response.breaches, "items"),
        ("conversations_texting", m.containment.conversations, "conversations"),
        ("conversations_contained", m.containment.contained, "conversations"),
        ("containment_rate", _share(m.containment.rate), "share 0-1"),
        ("opted_out", m.opt_outs.opted_out, "numbers"),
        ("numbers_texting", m.opt_outs.texters, "numbers"),
        ("opt_out_rate", _share(m.opt_outs.rate), "share 0-1"),
        ("texts_inbound", m.inbound, "texts"),
        ("texts_outbound", m.outbound, "texts"),
    ]
    rows += [(f"escalation_reason:{r.reason}", r.count, "items") for r in m.reasons]
    for bucket in m.traffic:
        at = bucket.start.isoformat()
        rows += [
            (f"texts_inbound:{at}", bucket.inbound, f"texts per {m.window.unit}"),
            (f"texts_outbound:{at}", bucket.outbound, f"texts per {m.window.unit}"),
        ]
    return _table(("metric", "value", "unit"), rows)
