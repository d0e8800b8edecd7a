"""Signed, expiring public URLs of pictures: Twilio fetches an agent's attachment from one.

`/media/<id>?expires=<unix seconds>&sig=<hex>`, the signature an HMAC-SHA256 over the id and
the expiry: a link cannot be turned into another picture's or made to last longer, and it works
for anyone only until it expires (it is given to the provider alone, at send time).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from app.clock import now
from app.config import Settings

LINK_LIFETIME = timedelta(hours=2)
"""Long enough for the provider to fetch the picture, with its own retries, after the send."""
_KEY_FILE = ".signing_key"


def signing_key(settings: Settings) -> bytes:
    """SMSDESK_MEDIA_SIGNING_KEY, else a random key kept in the media directory (shared by
    the server and its worker process on one machine)."""
    configured = settings.media_signing_key.get_secret_value()
    if configured:
        return configured.encode()
    path: Path = settings.media_path / _KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: of two processes starting at once, one writes and both read it
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def _signature(key: bytes, media_id: uuid.UUID, expires: int) -> str:
    return hmac.new(key, f"{media_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def public_url(settings: Settings, media_id: uuid.UUID) -> str:
    """A URL of the picture that works without a session until `LINK_LIFETIME` from now."""
    expires = int((now() + LINK_LIFETIME).timestamp())
    query = urlencode(
        {"expires": expires, "sig": _signature(signing_key(settings), media_id, expires)}
    )
    return f"{settings.public_base_url.rstrip('/')}/media/{media_id}?{query}"


def valid(settings: Settings, media_id: uuid.UUID, *, expires: int, sig: str) -> bool:
    """Whether a public URL's signature is right and it has not expired."""
    if expires < now().timestamp():
        return False
    expected = _signature(signing_key(settings), media_id, expires)
    return hmac.compare_digest(expected, sig)
