"""What `smsdesk serve` refuses to expose: development secrets and public demo pages off loopback.

The development defaults (a public API key and Twilio token, demo agents with public
passwords, the phone simulator that texts as any number) make `make run` work with no
configuration. They are safe only while nobody else can reach the server, so listening on any
other interface with one of them on is refused, naming the setting to change.
"""

from __future__ import annotations

import ipaddress

from app.config import DEV_API_KEY, DEV_TWILIO_AUTH_TOKEN, Settings
from app.errors import ConfigurationError


class UnsafeExposure(ConfigurationError):
    """The server would listen beyond this machine with a development secret or demo page on."""

    code = "unsafe_exposure"


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach a server listening on `host`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_exposure(settings: Settings, *, host: str) -> None:
    """UnsafeExposure (one line naming the setting) when listening on `host` would expose a
    development secret, the demo agents or the public simulator."""
    if is_loopback(host):
        return
    where = f"listening on {host} (reachable from other machines)"
    if any(key.get_secret_value().partition(":")[0] == DEV_API_KEY for key in settings.api_keys):
        raise UnsafeExposure(
            f"SMSDESK_API_KEYS holds the public development key while {where}: set keys of "
            "your own, or listen on 127.0.0.1 (SMSDESK_HOST)"
        )
    if settings.twilio_auth_token.get_secret_value() == DEV_TWILIO_AUTH_TOKEN:
        raise UnsafeExposure(
            f"SMSDESK_TWILIO_AUTH_TOKEN is the public development token while {where}: anyone "
            "could sign webhooks; set your Twilio auth token, or listen on 127.0.0.1"
        )
    if settings.demo:
        raise UnsafeExposure(
            f"SMSDESK_DEMO is on while {where}: the demo agents have public passwords; set "
            "SMSDESK_DEMO=false, or listen on 127.0.0.1"
        )
    if settings.simulator:
        raise UnsafeExposure(
            f"SMSDESK_SIMULATOR is on while {where}: the public phone simulator texts as any "
            "number; set SMSDESK_SIMULATOR=false, or listen on 127.0.0.1"
        )
