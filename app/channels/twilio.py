"""The Twilio edge: verify and parse its webhooks, and send texts through its Messages API."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from app.channels.base import InboundSms, Media, OutboundSms, SendResult
from app.compliance.segments import MAX_TEXT_CHARS
from app.config import Settings
from app.errors import ConfigurationError, InvalidInput, ProviderError, RecipientOptedOut

PROVIDER = "twilio"
OPTED_OUT_CODE = 21610
MAX_MEDIA = 10  # Twilio's limit per MMS, in both directions
_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
_STATUSES = frozenset(
    {"accepted", "scheduled", "canceled", "queued", "sending", "sent", "failed", "delivered",
     "undelivered", "receiving", "received", "read", "partially_delivered"}
)  # fmt: skip


def verify_signature(
    *, auth_token: str, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    """True when `X-Twilio-Signature` matches the URL and form Twilio signed with our token."""
    # An empty token is a key anyone can sign with: refuse rather than accept forgeries.
    if not auth_token or not signature:
        return False
    # The params go in as given: a multi-dict (Starlette's FormData) keeps repeated keys.
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def webhook_url(public_base_url: str, path: str, query: str = "") -> str:
    """The URL Twilio requested (and signed): public base URL + path + the raw query string."""
    url = public_base_url.rstrip("/") + "/" + path.lstrip("/")
    query = query.lstrip("?")
    return f"{url}?{query}" if query else url


def _required(form: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = form.get(name)
        if value:
            return value
    raise InvalidInput(f"Twilio webhook is missing {' / '.join(names)}")


def _message_sid(form: Mapping[str, str]) -> str:
    sid = _required(form, "MessageSid", "SmsSid")
    if not _SID.fullmatch(sid):
        raise InvalidInput(f"MessageSid {sid[:40]!r} is not 'SM' or 'MM' and 32 hex digits")
    return sid


def _media(form: Mapping[str, str]) -> tuple[Media, ...]:
    raw = form.get("NumMedia") or "0"
    if re.fullmatch(r"-\d+", raw):
        raise InvalidInput(f"NumMedia must not be negative, got {raw}")
    if not re.fullmatch(r"\d{1,3}", raw):
        raise InvalidInput(f"NumMedia must be a whole number, got {raw[:20]!r}")
    count = int(raw)
    if count > MAX_MEDIA:
        raise InvalidInput(f"NumMedia {count} exceeds Twilio's limit of {MAX_MEDIA}")
    media = []
    for index in range(count):
        url = form.get(f"MediaUrl{index}")
        if not url:
            raise InvalidInput(f"NumMedia is {count} but MediaUrl{index} is missing")
        if urlsplit(url).scheme not in ("https", "http"):
            raise InvalidInput(f"MediaUrl{index} is not an http(s) URL")
        content_type = form.get(f"MediaContentType{index}")
        if not content_type:
            raise InvalidInput(f"NumMedia is {count} but MediaContentType{index} is missing")
        media.append(Media(url=url, content_type=content_type))
    return tuple(media)


def parse_inbound(
    form: Mapping[str, str], *, received_at: datetime, account_sid: str | None = None
) -> InboundSms:
    """An incoming SMS/MMS webhook as an `InboundSms`; `InvalidInput` names what is wrong."""
    if received_at.tzinfo is None:
        raise InvalidInput("received_at must be timezone-aware")
    sid = _message_sid(form)
    if account_sid is not None and form.get("AccountSid") != account_sid:
        raise InvalidInput("AccountSid does not match the configured Twilio account")
    body = form.get("Body") or ""  # absent on a picture-only MMS
    if len(body) > MAX_TEXT_CHARS:  # Twilio itself never delivers more
        raise InvalidInput(f"Body has {len(body)} characters; at most {MAX_TEXT_CHARS} are taken")
    return InboundSms(
        provider=PROVIDER,
        provider_message_id=sid,
        from_number=_required(form, "From"),
        to_number=_required(form, "To"),
        body=body,
        received_at=received_at,
        media=_media(form),
    )


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A delivery status callback: where one of our messages is now."""

    provider_message_id: str
    status: str
    """accepted | scheduled | canceled | queued | sending | sent | failed | delivered | ..."""
    error_code: str | None
    """Twilio's error code when failed/undelivered (e.g. 30007 carrier filtering), else None."""
    to_number: str


def parse_status(form: Mapping[str, str]) -> StatusUpdate:
    """A status callback webhook as a `StatusUpdate`; `InvalidInput` names what is wrong."""
    sid = _message_sid(form)
    status = _required(form, "MessageStatus", "SmsStatus").strip().lower()
    if status not in _STATUSES:
        raise InvalidInput(f"unknown MessageStatus {status[:30]!r}")
    error_code = (form.get("ErrorCode") or "").strip() or None
    if error_code is not None and not error_code.isdigit():
        raise InvalidInput(f"ErrorCode must be numeric, got {error_code[:20]!r}")
    return StatusUpdate(sid, status, error_code, _required(form, "To"))


# The idempotency key of the send in progress on this thread (read by the HTTP client below).
_IDEMPOTENCY_KEY: ContextVar[str | None] = ContextVar("twilio_idempotency_key", default=None)


class _HttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Twilio's HTTP client, adding the idempotency header that `messages.create` cannot take."""

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        key = _IDEMPOTENCY_KEY.get()
        if key is not None:
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "I-Twilio-Idempotency-Token": key}
        return super().request(method, url, *args, **kwargs)


def _nothing_sent(exc: requests.RequestException) -> bool:
    """True if the request failed before reaching Twilio (refused, DNS, connect timeout)."""
    # requests wraps urllib3's MaxRetryError; with retries off its reason is the first failure.
    reason = exc.args[0].reason if exc.args and isinstance(exc.args[0], MaxRetryError) else None
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _refusal(status: int, code: int | None, detail: str) -> ProviderError:
    """Map Twilio's HTTP status and error code onto smsdesk's provider errors."""
    provider_code = str(code) if code is not None else None
    message = f"Twilio HTTP {status} (code {provider_code}): {detail}"
    if code == OPTED_OUT_CODE:
        return RecipientOptedOut(message, retryable=False, provider_code=provider_code)
    retryable = status == 429 or status >= 500
    return ProviderError(message, retryable=retryable, provider_code=provider_code)


class TwilioSender:
    """Sends texts with Twilio's Messages API. Never retries: the caller decides (tenacity)."""

    name = PROVIDER

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        api_base_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not account_sid or not auth_token:
            raise ConfigurationError("Twilio needs an account SID and an auth token")
        if not from_number and not messaging_service_sid:
            raise ConfigurationError("Twilio needs a from number or a messaging service SID")
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self._http = _HttpClient(timeout=timeout)
        # Settings are the only source: a non-empty `environment` stops the client reading
        # TWILIO_EDGE / TWILIO_REGION from os.environ, which would rewrite the host below.
        self._client = Client(
            account_sid, auth_token, http_client=self._http, environment={"SMSDESK": "1"}
        )
        if api_base_url:
            parts = urlsplit(api_base_url)
            if parts.scheme not in ("https", "http") or not parts.netloc:
                raise ConfigurationError(f"twilio_api_base_url is not a URL: {api_base_url!r}")
            # Every api.twilio.com request is built from this Domain's base_url.
            self._client.api.base_url = api_base_url.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioSender:
        """The sender configured by `SMSDESK_TWILIO_*`."""
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            from_number=settings.twilio_from_number,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            api_base_url=settings.twilio_api_base_url,
        )

    def send(self, sms: OutboundSms) -> SendResult:
        """Create one Message; raise `ProviderError` (`.retryable` only if nothing was sent)."""
        params: dict[str, str | list[str]] = {"to": sms.to_number, "body": sms.body}
        from_number = sms.from_number or self.from_number
        if from_number:
            params["from_"] = from_number
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        if sms.status_callback:
            params["status_callback"] = sms.status_callback
        if sms.media_urls:  # Twilio fetches each from its public URL (MediaUrl)
            params["media_url"] = list(sms.media_urls[:MAX_MEDIA])
        # Twilio's Messages API does not promise to deduplicate on this header: the token is
        # sent for tracing and in case it ever does. Safety against double sends comes from the
        # caller retrying only errors where nothing was sent (429, 5xx, connection refused).
        token = _IDEMPOTENCY_KEY.set(sms.idempotency_key)
        try:
            message = self._client.api.v2010.account.messages.create(**params)
        except TwilioRestException as exc:
            raise _refusal(exc.status, exc.code, exc.msg) from exc
        except TwilioServiceException as exc:
            raise _refusal(exc.status, exc.code, exc.detail or exc.title) from exc
        except requests.RequestException as exc:
            if _nothing_sent(exc):
                raise ProviderError(f"could not reach Twilio: {exc}", retryable=True) from exc
            # A read timeout or a dropped connection after the request went out: Twilio may
            # have queued the text, so a retry could send it twice.
            unknown = f"Twilio request failed after sending; outcome unknown: {exc}"
            raise ProviderError(unknown, retryable=False) from exc
        except json.JSONDecodeError as exc:
            raise ProviderError("Twilio answered with unreadable JSON", retryable=False) from exc
        finally:
            _IDEMPOTENCY_KEY.reset(token)
        if not message.sid:
            raise ProviderError("Twilio accepted the message but returned no sid", retryable=False)
        return SendResult(str(message.sid), str(message.status or "queued"))

    def close(self) -> None:
        """Release pooled HTTP connections."""
        self._http.session.close()
