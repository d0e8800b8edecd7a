"""The Twilio edge: genuinely signed webhooks, real payloads, and sends to a loopback Twilio."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from dataclasses import astuple
from datetime import UTC, datetime
from functools import partial

import pytest
from pydantic import SecretStr

from app.channels.base import Media, OutboundSms
from app.channels.twilio import (
    TwilioSender,
    parse_inbound,
    parse_status,
    verify_signature,
    webhook_url,
)
from app.config import Settings
from app.errors import ConfigurationError, InvalidInput, ProviderError, RecipientOptedOut
from tests.channels import fake_twilio as fake
from tests.channels.fake_twilio import FakeTwilio, Reply

TOKEN = fake.AUTH_TOKEN
URL = "https://sms.example.com/webhooks/twilio/sms"
NOW = datetime(2026, 3, 2, 15, 4, 5, tzinfo=UTC)
SMS, MMS, STATUS = fake.SMS_WEBHOOK, fake.MMS_WEBHOOK, fake.STATUS_WEBHOOK
SMS_SID, MMS_SID = fake.SMS_SID, fake.MMS_SID


def test_a_genuine_signature_verifies() -> None:
    assert verify_signature(auth_token=TOKEN, url=URL, params=SMS, signature=fake.sign(URL, SMS))


@pytest.mark.parametrize(
    ("url", "params", "signature", "token"),
    [
        (URL, {**SMS, "Body": "STOP"}, fake.sign(URL, SMS), TOKEN),  # tampered body
        (URL + "?x=1", SMS, fake.sign(URL, SMS), TOKEN),  # wrong URL: query added
        (URL.replace("https", "http"), SMS, fake.sign(URL, SMS), TOKEN),  # wrong scheme
        (URL, SMS, None, TOKEN),  # missing X-Twilio-Signature header
        (URL, SMS, "", TOKEN),
        (URL, SMS, fake.sign(URL, SMS, "another-token"), TOKEN),
        (URL, SMS, fake.sign(URL, SMS, ""), ""),  # an empty token signs nothing
    ],
)
def test_a_bad_signature_fails(
    url: str, params: dict[str, str], signature: str | None, token: str
) -> None:
    assert not verify_signature(auth_token=token, url=url, params=params, signature=signature)


@pytest.mark.parametrize(
    ("base", "path", "query", "expected"),
    [
        ("https://sms.example.com", "/webhooks/twilio/sms", "", URL),
        ("https://sms.example.com/", "/webhooks/twilio/sms", "", URL),
        ("https://sms.example.com/", "webhooks/twilio/sms", "", URL),
        ("https://sms.example.com//", "/webhooks/twilio/sms", "a=1&b=x%20y", URL + "?a=1&b=x%20y"),
        ("https://ex.com/desk/", "/hook", "?tenant=7", "https://ex.com/desk/hook?tenant=7"),
    ],
)
def test_webhook_url(base: str, path: str, query: str, expected: str) -> None:
    assert webhook_url(base, path, query) == expected


def test_signature_over_webhook_url_with_query() -> None:
    url, signature = webhook_url(URL, "/", "tenant=7"), fake.sign(URL + "/?tenant=7", SMS)
    assert verify_signature(auth_token=TOKEN, url=url, params=SMS, signature=signature)
    assert not verify_signature(auth_token=TOKEN, url=URL, params=SMS, signature=signature)


def without(form: dict[str, str], *keys: str) -> dict[str, str]:
    return {key: value for key, value in form.items() if key not in keys}


def test_parse_inbound_sms() -> None:
    sms = parse_inbound(SMS, received_at=NOW, account_sid=SMS["AccountSid"])
    assert (sms.provider, sms.provider_message_id, sms.body) == ("twilio", SMS_SID, SMS["Body"])
    assert (sms.from_number, sms.to_number, sms.received_at, sms.media) == (
        "+14155550123", "+14155550100", NOW, ())  # fmt: skip
    sms_sid_only = without(SMS, "MessageSid")
    assert parse_inbound(sms_sid_only, received_at=NOW).provider_message_id == SMS_SID


def test_parse_inbound_mms_with_two_media_and_no_body() -> None:
    sms = parse_inbound(MMS, received_at=NOW)
    assert (sms.provider_message_id, sms.body) == (MMS_SID, "")
    assert sms.media == (
        Media(MMS["MediaUrl0"], "image/jpeg"), Media(MMS["MediaUrl1"], "image/png"))  # fmt: skip


INBOUND = partial(parse_inbound, received_at=NOW)


def test_parse_status() -> None:
    update = parse_status(STATUS)
    assert astuple(update) == (SMS_SID, "delivered", None, "+14155550123")
    failed = parse_status({**STATUS, "MessageStatus": "undelivered", "ErrorCode": "30007"})
    assert (failed.status, failed.error_code) == ("undelivered", "30007")


@pytest.mark.parametrize(
    ("parse", "form", "match"),
    [
        (INBOUND, without(SMS, "MessageSid", "SmsSid"), "missing MessageSid / SmsSid"),
        (INBOUND, without(SMS, "From"), "missing From"),
        (INBOUND, {**SMS, "From": ""}, "missing From"),
        (INBOUND, without(SMS, "To"), "missing To"),
        (INBOUND, {**SMS, "NumMedia": "two"}, "whole number"),
        (INBOUND, {**SMS, "NumMedia": "1.5"}, "whole number"),
        (INBOUND, {**SMS, "NumMedia": "-1"}, "negative"),
        (INBOUND, {**SMS, "NumMedia": "11"}, "limit of 10"),
        (INBOUND, {**MMS, "NumMedia": "3"}, "MediaUrl2 is missing"),
        (INBOUND, without(MMS, "MediaContentType1"), "MediaContentType1 is missing"),
        (INBOUND, {**MMS, "MediaUrl0": "file:///etc/passwd"}, "MediaUrl0 is not an http"),
        (INBOUND, {**SMS, "MessageSid": "AC" + "1" * 32}, "not 'SM' or 'MM'"),
        (INBOUND, {**SMS, "MessageSid": SMS_SID[:-1]}, "not 'SM' or 'MM'"),
        (INBOUND, {**SMS, "MessageSid": "SM" + "z" * 32}, "not 'SM' or 'MM'"),
        (parse_status, {**STATUS, "MessageStatus": "exploded"}, "unknown MessageStatus"),
        (parse_status, without(STATUS, "MessageStatus", "SmsStatus"), "missing MessageStatus"),
        (parse_status, {**STATUS, "ErrorCode": "30x07"}, "ErrorCode must be numeric"),
        (parse_status, without(STATUS, "To"), "missing To"),
        (parse_status, {**STATUS, "MessageSid": "SMnope"}, "not 'SM' or 'MM'"),
        (partial(INBOUND, account_sid="AC" + "f" * 32), SMS, "AccountSid does not match"),
        (partial(parse_inbound, received_at=NOW.replace(tzinfo=None)), SMS, "timezone-aware"),
    ],
)
def test_malformed_webhooks_are_refused(
    parse: Callable[[dict[str, str]], object], form: dict[str, str], match: str
) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse(form)


def outbound(key: str = "idem-1", **extra: str) -> OutboundSms:
    return OutboundSms(uuid.uuid4(), "+14155550123", "We open at 9am.", key, **extra)  # type: ignore[arg-type]


def test_send_creates_a_message(twilio_sender: TwilioSender, fake_twilio: FakeTwilio) -> None:
    callback = "https://sms.example.com/webhooks/twilio/status"
    result = twilio_sender.send(outbound(status_callback=callback))
    [request] = fake_twilio.requests
    assert request.authorized and request.path.endswith(f"/{fake_twilio.account_sid}/Messages.json")
    assert (request.field("To"), request.field("Body")) == ("+14155550123", "We open at 9am.")
    assert (request.field("From"), request.field("StatusCallback")) == ("+15005550006", callback)
    assert request.field("MessagingServiceSid") is None
    assert request.headers["i-twilio-idempotency-token"] == "idem-1"
    assert result.status == "queued" and result.provider_message_id.startswith("SM")
    assert len(result.provider_message_id) == 34


def test_send_through_a_messaging_service(
    twilio_settings: Settings, fake_twilio: FakeTwilio
) -> None:
    mg = "MG" + "9" * 32
    service = changed(twilio_settings, twilio_from_number=None, twilio_messaging_service_sid=mg)
    service.send(outbound())
    service.send(outbound(from_number="+15005550009"))
    first, second = fake_twilio.requests
    assert (first.field("MessagingServiceSid"), first.field("From")) == (mg, None)
    assert (second.field("MessagingServiceSid"), second.field("From")) == (mg, "+15005550009")
    assert first.field("StatusCallback") is None


def test_twilio_region_in_the_environment_does_not_redirect(
    twilio_settings: Settings, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_REGION", "au1")
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    assert TwilioSender.from_settings(twilio_settings).send(outbound()).status == "queued"
    assert len(fake_twilio.requests) == 1


def changed(settings: Settings, **update: object) -> TwilioSender:
    return TwilioSender.from_settings(settings.model_copy(update=update))


@pytest.mark.parametrize(
    ("reply", "error", "retryable", "code"),
    [
        (fake.RATE_LIMITED, ProviderError, True, "20429"),
        (fake.SERVER_ERROR, ProviderError, True, "500"),
        (fake.SERVICE_UNAVAILABLE, ProviderError, True, "20503"),  # RFC 9457 problem details
        (fake.OPTED_OUT, RecipientOptedOut, False, "21610"),
        (fake.twilio_error(21211, "The 'To' number is not a valid phone number."), ProviderError,
         False, "21211"),
        (Reply(drop=True), ProviderError, False, None),  # request went out: may have been sent
    ],
)  # fmt: skip
def test_send_failures(
    twilio_sender: TwilioSender, fake_twilio: FakeTwilio, reply: Reply, error: type[ProviderError],
    retryable: bool, code: str | None,
) -> None:  # fmt: skip
    fake_twilio.script.append(reply)
    with pytest.raises(ProviderError) as caught:
        twilio_sender.send(outbound())
    assert type(caught.value) is error
    assert (caught.value.retryable, caught.value.provider_code) == (retryable, code)
    assert len(fake_twilio.requests) == 1


def test_wrong_credentials_are_refused_not_retried(
    twilio_settings: Settings, fake_twilio: FakeTwilio
) -> None:
    with pytest.raises(ProviderError) as caught:
        changed(twilio_settings, twilio_auth_token=SecretStr("wrong-token")).send(outbound())
    assert (caught.value.retryable, caught.value.provider_code) == (False, "20003")
    assert not fake_twilio.requests[0].authorized


def test_read_timeout_is_not_retryable(fake_twilio: FakeTwilio) -> None:
    fake_twilio.script.append(Reply(delay=1.0))
    slow = TwilioSender(account_sid=fake_twilio.account_sid, auth_token=fake_twilio.auth_token,
                        from_number="+15005550006", api_base_url=fake_twilio.base_url,
                        timeout=0.2)  # fmt: skip
    with pytest.raises(ProviderError, match="outcome unknown") as caught:
        slow.send(outbound())
    assert caught.value.retryable is False


def test_server_down_is_retryable(twilio_settings: Settings, fake_twilio: FakeTwilio) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        down = changed(
            twilio_settings, twilio_api_base_url=f"http://127.0.0.1:{sock.getsockname()[1]}"
        )
    with pytest.raises(ProviderError, match="could not reach Twilio") as caught:
        down.send(outbound())
    assert caught.value.retryable is True
    assert not fake_twilio.requests


MISCONFIGURED = [{"twilio_account_sid": ""}, {"twilio_auth_token": SecretStr("")},
                 {"twilio_from_number": None}, {"twilio_api_base_url": "127.0.0.1:80"}]  # fmt: skip


@pytest.mark.parametrize("update", MISCONFIGURED)
def test_misconfiguration_is_refused_at_start(
    twilio_settings: Settings, update: dict[str, object]
) -> None:
    with pytest.raises(ConfigurationError):
        changed(twilio_settings, **update)
