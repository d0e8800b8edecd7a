"""The deterministic compliance layer (SPEC §3-§12): no AI, every decision versioned.

Public surface:
- `Compliance` (service): inbound decisions and the send-time gate on the consent ledger.
- `classify` / `check_outbound`: the pure rules behind them.
- `reply_text`, `Brand`: the HELP/STOP/START texts; `count_segments`; `check_content`.
- `opt_out_tool`: the §7 hook the AI layer calls on a revocation the rules missed.
- the types in `model`.
"""

from app.compliance.content import check_content
from app.compliance.gate import check_outbound
from app.compliance.inbound import classify
from app.compliance.lexicon import ruleset_version
from app.compliance.model import (
    ConsentState,
    ContentVerdict,
    GateDecision,
    GateRequest,
    InboundDecision,
    Policy,
)
from app.compliance.replies import Brand, reply_text
from app.compliance.second_pass import OptOutTool, opt_out_tool
from app.compliance.segments import count_segments
from app.compliance.service import Compliance

__all__ = [
    "Brand",
    "Compliance",
    "ConsentState",
    "ContentVerdict",
    "GateDecision",
    "GateRequest",
    "InboundDecision",
    "OptOutTool",
    "Policy",
    "check_content",
    "check_outbound",
    "classify",
    "count_segments",
    "opt_out_tool",
    "reply_text",
    "ruleset_version",
]
