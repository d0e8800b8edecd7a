"""Settings a newcomer changes one at a time: what follows from them by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Settings, get_settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.setenv("SMSDESK_DATA_DIR", str(tmp_path))
    for name in ("SMSDESK_PORT", "SMSDESK_HOST", "SMSDESK_PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_the_public_url_follows_the_port(env: pytest.MonkeyPatch) -> None:
    # `smsdesk chat` texts SMSDESK_PUBLIC_BASE_URL: with only SMSDESK_PORT set it was :8000.
    env.setenv("SMSDESK_PORT", "8123")
    assert get_settings().public_base_url == "http://127.0.0.1:8123"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("0.0.0.0", "http://127.0.0.1:8000"),
        ("::", "http://127.0.0.1:8000"),
        ("192.168.1.20", "http://192.168.1.20:8000"),
        ("::1", "http://[::1]:8000"),
    ],
)
def test_the_public_url_follows_a_specific_host(
    env: pytest.MonkeyPatch, host: str, url: str
) -> None:
    env.setenv("SMSDESK_HOST", host)
    assert get_settings().public_base_url == url


def test_a_set_public_url_is_kept(env: pytest.MonkeyPatch) -> None:
    env.setenv("SMSDESK_PORT", "8123")
    env.setenv("SMSDESK_PUBLIC_BASE_URL", "https://sms.example.com")
    assert get_settings().public_base_url == "https://sms.example.com"


def test_a_lower_case_log_level_is_accepted(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, log_level="debug").log_level == "DEBUG"
