"""`smsdesk chat`: a terminal phone for a running smsdesk.

Each line typed is posted to the server as a genuinely signed Twilio webhook; every text the
server sends back to that number (through the console provider, or any provider) is printed
as it appears, with its status when it did not go out (scheduled, blocked).
"""

from __future__ import annotations

import contextlib
import json
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
from app.errors import SmsdeskError


class ServerUnreachable(SmsdeskError):
    """No smsdesk answers at the chat's URL."""

    code = "server_unreachable"


SMS_PATH = "/webhooks/twilio/sms"
STREAM_PATH = "/api/v1/messages/stream"  # app/api/texts_stream.py
BUSINESS_NUMBER = "+18005550199"


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
    _stream: httpx.Response | None = None

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

    def listen(self, stop: threading.Event, opened: threading.Event) -> None:
        """Show the replies as the server streams them (`/api/v1/messages/stream`) until
        `stop`; one request per stream, not two polls every 0.3 s (each an access-log line)."""
        headers = {"Authorization": f"Bearer {self._key()}", "Accept": "text/event-stream"}
        url = self.url.rstrip("/") + STREAM_PATH
        timeout = httpx.Timeout(10, read=60)  # the server sends a heartbeat every 15 s
        while not stop.is_set():
            with self._client.stream(
                "GET", url, params={"phone": self.number}, headers=headers, timeout=timeout
            ) as response:
                self._stream = response
                response.raise_for_status()
                opened.set()
                event = ""
                for line in response.iter_lines():
                    if stop.is_set():
                        return
                    if line.startswith("event:"):
                        event = line.partition(":")[2].strip()
                    elif line.startswith("data:"):
                        self._on(event, json.loads(line.partition(":")[2]))
            # The server ends a stream after 30 minutes: open the next one (nothing is lost,
            # it starts with every text so far and those shown already are skipped).

    def stop_listening(self) -> None:
        """End the stream `listen` reads (from another thread: its read returns at once)."""
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(httpx.HTTPError, RuntimeError, OSError):  # ending anyway
                stream.close()

    def _on(self, event: str, data: dict[str, Any]) -> None:
        if event == "conversation":
            if data["status"] != self._status:
                self._status = data["status"]
                if self._status == "human":
                    self.out("(the conversation is now with a person: an agent will answer)")
        elif event == "text":
            key = uuid.UUID(data["id"])
            if key not in self._seen:
                self._seen.add(key)
                self.show([data])

    def show(self, messages: Iterable[dict[str, Any]]) -> None:
        """Print replies like a phone would."""
        for message in messages:
            note = (
                ""
                if message["status"] in ("sent", "queued", "delivered")
                else (f"   [{message['status']}: {message.get('detail') or ''}]")
            )
            self.out(f"{self.settings.brand_name}> {message['body']}{note}")

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def _key(self) -> str:
        # An entry may name the brands it reaches (`key:brand1|brand2`): only the key is sent.
        entry = self.settings.api_keys[0].get_secret_value() if self.settings.api_keys else ""
        return entry.partition(":")[0]


def run(
    phone: Phone,
    lines: Iterable[str],
    *,
    wait_seconds: float,
    until: Callable[[], bool] | None = None,
) -> None:
    """Send each line, show replies as they come, then wait `wait_seconds` for the last ones
    (or less, once `until()` holds: a caller that knows what it waits for)."""
    stop, opened = threading.Event(), threading.Event()

    def listen() -> None:
        try:
            phone.listen(stop, opened)
        except Exception as exc:  # any: an error in a thread would print a traceback
            if not stop.is_set():  # (after `stop`, the closed stream's own error is expected)
                phone.out(f"(cannot read replies: {exc})")
        finally:
            opened.set()  # never leave the sender waiting for a stream that failed
            if stop.is_set():
                phone.close()  # `run` has returned without waiting for this thread

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    opened.wait(timeout=10)  # texts sent before the stream is open are shown all the same
    try:
        for line in lines:
            body = line.rstrip("\n")
            if body.strip() in ("/quit", "/exit"):
                break
            try:
                status = phone.send(body)
            except httpx.HTTPError as exc:
                raise ServerUnreachable(
                    f"cannot reach smsdesk at {phone.url} ({exc}): is `smsdesk serve` running "
                    "there? (`--url`, or the same SMSDESK_PORT / SMSDESK_PUBLIC_BASE_URL)"
                ) from None
            if status != 200:
                phone.out(f"(the server answered {status})")
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline and not (until and until()):
            time.sleep(0.05 if until else max(0.0, deadline - time.monotonic()))
    finally:
        stop.set()
        phone.stop_listening()
        # A read blocked on the stream may only return at the server's next heartbeat: the
        # (daemon) listener then finds `stop` set and ends by itself; nothing waits for it.
        listener.join(timeout=1)
        if not listener.is_alive():
            phone.close()  # (else the listener closes it as it ends)


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
