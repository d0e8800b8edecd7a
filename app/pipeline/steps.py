"""The order of the decision steps: one list, read top to bottom.

Every inbound text: compliance first (STOP, HELP, START and the consent ledger, in
`processor.InboundProcessor`, with no AI involved), then, for a text the compliance layer
passed, the AI layer's steps below; the first that returns a decision wins, and a text no
step decides goes to a person. Safety comes before everything the customer asked: a text
with danger in it is never answered from the knowledge base.
"""

from __future__ import annotations

from collections.abc import Callable

from app.ai import own_records, policy
from app.pipeline.decision import Decision

Step = Callable[[policy.Context], Decision | None]

AI_STEPS: tuple[Step, ...] = (
    policy.safety,  # crisis or danger: a person now, emergency numbers, no draft
    policy.picture,  # a picture with no words: a person looks at it (media_received)
    policy.revocation,  # SPEC §7: a stop request in words the rules missed
    policy.closing,  # thanks / ok / 👍: close politely, never a queue item
    policy.clarified,  # the customer picked an option of our clarifying question
    own_records.own_records,  # their own order / appointment / membership, from the number on file
    policy.needs_person,  # asks for a person, anger, legal, fraud, hand-off intents
    policy.answer,  # the entry that covers the question, a clarifying question, or a person
)
