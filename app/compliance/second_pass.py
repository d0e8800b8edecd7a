"""The AI second pass of SPEC §7, as an interface: the `opt_out(reason, evidence)` tool.

The deterministic layer is the floor, not the ceiling (AI-1): when the AI layer reads a
revocation the rules missed ("стоп", "I'm done with you people"), it calls this tool instead
of replying, and the opt-out is recorded and enforced exactly like a keyword one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from app.compliance.model import InboundDecision
from app.compliance.service import Compliance


class OptOutTool(Protocol):
    """`opt_out(reason, evidence)`: what the AI calls on a revocation the rules did not catch."""

    def __call__(self, reason: str, evidence: str) -> InboundDecision: ...


def opt_out_tool(
    compliance: Compliance,
    *,
    phone: str,
    received_at: datetime,
    provider_message_id: str | None = None,
    brand: str | None = None,
) -> OptOutTool:
    """The tool bound to one inbound message, ready to hand to the AI layer."""

    def opt_out(reason: str, evidence: str) -> InboundDecision:
        return compliance.ai_opt_out(
            phone=phone,
            reason=reason,
            evidence=evidence,
            received_at=received_at,
            provider_message_id=provider_message_id,
            brand=brand,
        )

    return opt_out
