"""`smsdesk chat`: a terminal phone for a running smsdesk.

Each line typed is posted to the server as a genuinely signed Twilio webhook; every text the
server sends back to that number (through the console provider, or any provider) is printed
as it appears, with its status when it did not go out (scheduled, blocked).
"""

from __future__ import annotations

import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx
from twilio.request_validator import RequestValidator

from app.channels.twilio import webhook_url
from app.config import Settings

SMS_PATH = "/webhooks/twilio/sms"
BUSINESS_NUMBER = "+18005550199"
_SHOWN = {"sent", "queued", "delivered", "scheduled", "blocked", "failed"}


@dataclass
class Phone:
    """One customer number talking to a running smsdesk at `url`."""

    settings: Settings
    number: str
    url: str
    out: Callable[[str], None] = print
    _seen: set[uuid.UUID] = field(default_factory=set)
    _status: str = "bot"
    _client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def send(self, body: str) -> int:
        """Text the business; returns the webhook's HTTP status."""
        form = {
            "MessageSid": "SM" + secrets.token_hex(16),
            "AccountSid": self.settings.twilio_account_sid or "AC" + "0" * 32,
            "From": self.number,
            "To": self.settings.twilio_from_number or BUSINESS_NUMBER,
            "Body": body,
            "NumMedia": "0",
        }
        token = self.settings.twilio_auth_token.get_secret_value()
        signed_url = webhook_url(self.settings.public_base_url, SMS_PATH)
        signature = RequestValidator(token).compute_signature(signed_url, form)
        response = self._client.post(
            self.url.rstrip("/") + SMS_PATH, data=form, headers={"X-Twilio-Signature": signature}
        )
        return response.status_code

    def replies(self) -> list[dict[str, Any]]:
        """Outbound texts to this number not shown yet, oldest first."""
        headers = {"Authorization": f"Bearer {self._key()}"}
        base = self.url.rstrip("/") + "/api/v1"
        conversations = self._client.get(
            f"{base}/conversations", params={"phone": self.number}, headers=headers
        )
        conversations.raise_for_status()
        new: list[dict[str, Any]] = []
        for conversation in conversations.json():
            if conversation["status"] != self._status:
                self._status = conversation["status"]
                if self._status == "human":
                    self.out("(the conversation is now with a person: an agent will answer)")
            thread = self._client.get(
                f"{base}/conversations/{conversation['id']}/messages", headers=headers
            )
            thread.raise_for_status()
            for message in thread.json():
                key = uuid.UUID(message["id"])
                if message["direction"] != "outbound" or key in self._seen:
                    continue
                if message["status"] in _SHOWN:
                    self._seen.add(key)
                    new.append(message)
        return new

    def show(self, messages: Iterable[dict[str, Any]]) -> None:
        """Print replies like a phone would."""
        for message in messages:
            note = (
                ""
                if message["status"] in ("sent", "queued", "delivered")
                else (f"   [{message['status']}: {message['history'][-1]['detail'] or ''}]")
            )
            self.out(f"{self.settings.brand_name}> {message['body']}{note}")

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def _key(self) -> str:
        # An entry may name the brands it reaches (`key:brand1|brand2`): only the key is sent.
        entry = self.settings.api_keys[0].get_secret_value() if self.settings.api_keys else ""
        return entry.partition(":")[0]


def run(phone: Phone, lines: Iterable[str], *, wait_seconds: float) -> None:
    """Send each line, show replies as they come, then wait `wait_seconds` for the last ones."""
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.3):
            try:
                phone.show(phone.replies())
            except httpx.HTTPError as exc:
                phone.out(f"(cannot read replies: {exc})")
                return

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        for line in lines:
            body = line.rstrip("\n")
            if body.strip() in ("/quit", "/exit"):
                break
            status = phone.send(body)
            if status != 200:
                phone.out(f"(the server answered {status})")
        time.sleep(wait_seconds)
    finally:
        stop.set()
        poller.join(timeout=2)
    phone.show(phone.replies())
    phone.close()


def prompt_lines(number: str) -> Iterable[str]:
    """Lines typed at a prompt (or piped in) until end of input."""
    if not sys.stdin.isatty():
        yield from sys.stdin
        return
    while True:
        try:
            yield input(f"{number}> ")
        except (EOFError, KeyboardInterrupt):
            return
