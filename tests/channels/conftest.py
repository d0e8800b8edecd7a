"""Fixtures for the channel edge: a loopback Twilio, and settings and a sender aimed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from app.channels.twilio import TwilioSender
from app.config import Settings
from tests.channels.fake_twilio import FakeTwilio


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A Twilio Messages API on 127.0.0.1 (free port) that records and can be scripted."""
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture
def twilio_settings(tmp_path: Path, fake_twilio: FakeTwilio) -> Settings:
    """Settings for the Twilio provider, with its REST base URL on the fake server."""
    return Settings(
        data_dir=tmp_path / "data",
        env="test",
        sms_provider="twilio",
        public_base_url="https://sms.example.com",
        twilio_account_sid=fake_twilio.account_sid,
        twilio_auth_token=SecretStr(fake_twilio.auth_token),
        twilio_from_number="+15005550006",
        twilio_api_base_url=fake_twilio.base_url,
    )


@pytest.fixture
def twilio_sender(twilio_settings: Settings) -> Iterator[TwilioSender]:
    """A `TwilioSender` talking to `fake_twilio`."""
    sender = TwilioSender.from_settings(twilio_settings)
    yield sender
    sender.close()
