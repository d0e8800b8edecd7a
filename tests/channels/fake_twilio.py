"""Twilio's side of the wire, for tests: a loopback Messages API and the webhooks Twilio posts.

`FakeTwilio` speaks `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form-encoded, HTTP
Basic auth), records every request and answers like Twilio: 201 with a Message JSON, or the
scripted `Reply` (Twilio's error JSON, a 5xx, a dropped connection, a slow answer).
`SMS_WEBHOOK`, `MMS_WEBHOOK`, `STATUS_WEBHOOK` and `sign` build genuinely signed webhooks.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
_MESSAGES = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json")

# What Twilio posts to our webhooks (every field of real payloads), for parser and route tests.
SMS_SID = "SM" + "1f2e3d4c5b6a7980" * 2
SMS_WEBHOOK = {
    "ToCountry": "US", "ToState": "CA", "SmsMessageSid": SMS_SID, "NumMedia": "0",
    "ToCity": "SAN FRANCISCO", "FromZip": "94105", "SmsSid": SMS_SID, "FromState": "CA",
    "SmsStatus": "received", "FromCity": "SAN FRANCISCO", "Body": "What time do you open?",
    "FromCountry": "US", "To": "+14155550100", "ToZip": "94103", "NumSegments": "1",
    "MessageSid": SMS_SID, "AccountSid": ACCOUNT_SID, "From": "+14155550123",
    "ApiVersion": "2010-04-01",
}  # fmt: skip
MMS_SID = "MM" + "a" * 32
_MEDIA = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{MMS_SID}/Media/"
MMS_WEBHOOK = {  # a picture-only MMS: Twilio sends no Body at all
    **{key: value for key, value in SMS_WEBHOOK.items() if key != "Body"},
    "MessageSid": MMS_SID, "SmsSid": MMS_SID, "SmsMessageSid": MMS_SID, "NumMedia": "2",
    "MediaUrl0": _MEDIA + "ME" + "0" * 32, "MediaContentType0": "image/jpeg",
    "MediaUrl1": _MEDIA + "ME" + "1" * 32, "MediaContentType1": "image/png",
}  # fmt: skip
STATUS_WEBHOOK = {
    "MessageSid": SMS_SID, "SmsSid": SMS_SID, "MessageStatus": "delivered",
    "SmsStatus": "delivered", "To": "+14155550123", "From": "+15005550006",
    "AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01",
}  # fmt: skip


def sign(url: str, params: Mapping[str, str], auth_token: str = AUTH_TOKEN) -> str:
    """The X-Twilio-Signature Twilio would send: tests send genuinely signed webhooks."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


@dataclass(frozen=True)
class Reply:
    """What the server does with one request: an HTTP answer, or dropping the connection."""

    status: int = 201
    payload: dict[str, object] | None = None
    """JSON to send; None on a 201 means a fresh Message; `raw` wins over both."""
    raw: str | None = None
    drop: bool = False
    """Read the request, then close the connection without answering."""
    delay: float = 0.0


def twilio_error(code: int, message: str, status: int = 400) -> Reply:
    """Twilio's legacy error body, e.g. 21610 for an unsubscribed recipient."""
    payload: dict[str, object] = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Reply(status=status, payload=payload)


RATE_LIMITED = twilio_error(20429, "Too Many Requests", status=429)
SERVER_ERROR = Reply(status=500, raw="<html><body>Internal Server Error</body></html>")
OPTED_OUT = twilio_error(21610, "Attempt to send to unsubscribed recipient")
SERVICE_UNAVAILABLE = Reply(503, {  # the RFC 9457 problem-details shape newer APIs use
    "type": "https://www.twilio.com/docs/errors/20503", "title": "Service Unavailable",
    "status": 503, "code": 20503, "detail": "Try again later"})  # fmt: skip


@dataclass
class RecordedRequest:
    """One request as the server saw it (headers with lower-case names)."""

    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]
    authorized: bool

    def field(self, name: str) -> str | None:
        """The first value of a form field."""
        values = self.form.get(name)
        return values[0] if values else None


@dataclass
class FakeTwilio:
    """Records every request; answers from `script` in order, then with 201 success."""

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    requests: list[RecordedRequest] = field(default_factory=list)
    script: list[Reply] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        """Where to point `twilio_api_base_url`."""
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeTwilio:
        """Listen on a free loopback port, in a daemon thread."""
        fake = self

        class Handler(_Handler):
            twilio = fake

        server = self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        poll = {"poll_interval": 0.02}  # a quick shutdown between tests
        threading.Thread(target=server.serve_forever, kwargs=poll, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def next_reply(self, recorded: RecordedRequest) -> Reply:
        """Record the request and pick its reply."""
        with self._lock:
            self.requests.append(recorded)
            if self.script:
                return self.script.pop(0)
        return Reply()

    def message_json(self, form: dict[str, list[str]]) -> dict[str, object]:
        """A Message resource as Twilio returns it on creation."""
        sid = "SM" + secrets.token_hex(16)
        first = {name: values[0] for name, values in form.items()}
        now = formatdate(usegmt=True)
        return {
            "sid": sid, "account_sid": self.account_sid, "to": first.get("To"),
            "from": first.get("From"), "messaging_service_sid": first.get("MessagingServiceSid"),
            "body": first.get("Body", ""), "status": "queued", "num_segments": "1",
            "num_media": "0", "direction": "outbound-api", "api_version": "2010-04-01",
            "price": None, "price_unit": "USD", "error_code": None, "error_message": None,
            "date_created": now, "date_updated": now, "date_sent": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/"
                                 f"Messages/{sid}/Media.json"},
        }  # fmt: skip


def _missing_field(form: dict[str, list[str]]) -> Reply | None:
    """Twilio's validation errors for a create without To, a sender, or content."""
    if not form.get("To"):
        return twilio_error(21604, "A 'To' phone number is required.")
    if not form.get("From") and not form.get("MessagingServiceSid"):
        return twilio_error(21603, "A 'From' phone number is required.")
    if not form.get("Body") and not form.get("MediaUrl"):
        return twilio_error(21602, "Message body is required.")
    return None


class _Handler(BaseHTTPRequestHandler):
    twilio: FakeTwilio

    def _authorized(self, account_sid: str) -> bool:
        expected = f"{account_sid}:{self.twilio.auth_token}".encode()
        header = self.headers.get("Authorization", "")
        return header == "Basic " + base64.b64encode(expected).decode()

    def _answer(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)  # fails when the client timed out first, as a test meant it

    def do_GET(self) -> None:
        self._answer(405, json.dumps({"code": 20004, "message": "Method not allowed"}))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
        match = _MESSAGES.fullmatch(self.path)
        authorized = (
            match is not None and match[1] == self.twilio.account_sid and self._authorized(match[1])
        )
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.twilio.next_reply(
            RecordedRequest("POST", self.path, headers, form, authorized)
        )
        time.sleep(reply.delay)
        if reply.drop:
            self.close_connection = True
            return
        if match is None:
            reply = twilio_error(20404, "The requested resource was not found", status=404)
        elif not authorized:
            reply = twilio_error(20003, "Authenticate", status=401)
        elif reply.status == 201 and reply.payload is None and reply.raw is None:
            reply = _missing_field(form) or Reply(payload=self.twilio.message_json(form))
        self._answer(reply.status, reply.raw or json.dumps(reply.payload))

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read `FakeTwilio.requests` instead."""
