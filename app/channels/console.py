"""The console provider: the embedded default. It records what would be sent and shows it."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app import clock
from app.channels.base import OutboundSms, SendResult
from app.storage.tables import OutboxEntry


class ConsoleSender:
    """Stores each text in the `console_outbox` table (once per idempotency key) and prints it."""

    name = "console"

    def __init__(self, engine: Engine, *, echo: bool = True) -> None:
        self.engine = engine
        self._console = Console(stderr=True, highlight=False) if echo else None

    def send(self, sms: OutboundSms) -> SendResult:
        """Record the text; a retry with the same idempotency key returns the first record."""
        with Session(self.engine, expire_on_commit=False) as session:
            entry = OutboxEntry(
                idempotency_key=sms.idempotency_key,
                to_number=sms.to_number,
                from_number=sms.from_number,
                body=sms.body,
                created_at=clock.now(),
                media=list(sms.media_urls) or None,
            )
            session.add(entry)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                existing = session.exec(
                    select(OutboxEntry).where(OutboxEntry.idempotency_key == sms.idempotency_key)
                ).one()
                return SendResult(f"CON{existing.id:08d}")
        if self._console is not None:
            # Text, not markup: a body is never interpreted as rich formatting.
            pictures = f" [+{len(sms.media_urls)} picture(s)]" if sms.media_urls else ""
            self._console.print(
                Text.assemble((f"SMS to {sms.to_number}", "bold cyan"), ": ", sms.body, pictures)
            )
        return SendResult(f"CON{entry.id:08d}")
