"""Fetching an inbound MMS's pictures: a job after the webhook's answer, never inside it.

Why a job and not a fetch on first view: the webhook must answer within Twilio's 15 s whatever
the media host does, and a picture fetched at once is there when the agent opens the thread
(no wait on the first view, and none of it lost if the provider later deletes its copy). The
job runs on its own ordering key, so the customer's text is answered without waiting for it.

Safety: only http(s); every hop of a redirect is checked again, and a host that resolves to a
loopback, private, link-local or otherwise non-public address is refused unless named in
SMSDESK_MEDIA_PRIVATE_HOSTS. Twilio's credentials (HTTP basic auth, when its media needs
them) go only to the host of the MediaUrl Twilio signed, never to where it redirects (S3).
A declared type that is not a picture is refused without a download; bodies are read up to
SMSDESK_MEDIA_MAX_BYTES and no further. Transport errors and 5xx answers are retried with
tenacity; what still fails is recorded on the picture with its reason, never raised.
"""

from __future__ import annotations

import ipaddress
import socket
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from app import log
from app.channels.base import Media
from app.clock import now
from app.config import Settings
from app.media.store import (
    ACCEPTED,
    MediaRejected,
    StoredFile,
    attach,
    declared_ok,
    mark_failed,
    mark_fetched,
    save,
)
from app.storage.messages import enqueue
from app.storage.tables import Message, MessageMedia

FETCH_MEDIA = "fetch_media"
MAX_REDIRECTS = 5
ATTEMPTS = 3
_logger = log.get_logger("media")


class FetchFailed(Exception):
    """A transient failure (connection, timeout, 5xx, 429): worth another try."""


def add_inbound_media(session: Session, *, message: Message, media: Sequence[Media]) -> None:
    """The pictures of an inbound text, in its transaction: the uploaded ones stored, the
    others pending with one fetch job (on its own key: the reply never waits for it)."""
    pending = False
    for position, item in enumerate(media):
        if item.upload is not None:
            attach(session, message_id=message.id, position=position, stored=item.upload)
            continue
        session.add(
            MessageMedia(
                message_id=message.id,
                position=position,
                content_type=item.content_type[:100],
                source_url=item.url,
                state="pending",
                created_at=now(),
            )
        )
        pending = True
    if pending:
        enqueue(
            session,
            kind=FETCH_MEDIA,
            key=f"media|{message.id}",
            payload={"message_id": str(message.id)},
            dedupe_key=f"media:{message.id}",
        )


class MediaFetcher:
    """The `fetch_media` job: downloads a message's pending pictures into the media directory."""

    def __init__(
        self, engine: Engine, settings: Settings, *, client: httpx.Client | None = None
    ) -> None:
        self.engine = engine
        self.media_dir = settings.media_path
        self.max_bytes = settings.media_max_bytes
        self.allowed_private = {h.lower() for h in settings.media_private_hosts}
        self._client = client or httpx.Client(timeout=10.0, follow_redirects=False)
        sid, token = settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()
        self._auth = (sid, token) if sid and token else None
        api = urlsplit(settings.twilio_api_base_url or "")
        self._auth_hosts = {api.netloc.lower()} if api.netloc else set()

    def __call__(self, payload: dict[str, Any]) -> None:
        """Fetch the message's pending pictures; each ends fetched or failed with a reason."""
        message_id = uuid.UUID(str(payload["message_id"]))
        with Session(self.engine) as session:
            pending = session.exec(
                select(MessageMedia)
                .where(MessageMedia.message_id == message_id, MessageMedia.state == "pending")
                .order_by(col(MessageMedia.position))
            ).all()
            targets = [(m.id, m.source_url or "", m.content_type) for m in pending]
        # The downloads happen outside any transaction (on SQLite one holds the write lock).
        for media_id, url, declared in targets:
            try:
                data = self.fetch(url, declared=declared)
                stored = save(self.media_dir, data, max_bytes=self.max_bytes)
            except MediaRejected as exc:
                self._record(media_id, failure=str(exc))
                _logger.info("media.rejected", media=str(media_id), reason=str(exc))
                continue
            self._record(media_id, stored=stored)
            _logger.info("media.fetched", media=str(media_id), size=stored.size)

    def _record(
        self, media_id: uuid.UUID, *, failure: str = "", stored: StoredFile | None = None
    ) -> None:
        with Session(self.engine) as session:
            media = session.get(MessageMedia, media_id)
            if media is None or media.state != "pending":
                return  # a re-run job found it settled already
            if stored is not None:
                mark_fetched(media, stored)
            else:
                mark_failed(media, failure)
            session.add(media)
            session.commit()

    def fetch(self, url: str, *, declared: str) -> bytes:
        """The bytes at `url` (redirects checked hop by hop); `MediaRejected` says why not."""
        if not declared_ok(declared):
            raise MediaRejected(f"{declared[:60]} is not a picture smsdesk takes ({ACCEPTED})")
        retrying = Retrying(
            retry=retry_if_exception_type(FetchFailed),
            stop=stop_after_attempt(ATTEMPTS),
            wait=wait_random_exponential(multiplier=0.5, max=5),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            return retrying(self._fetch_once, url)
        except FetchFailed as exc:
            raise MediaRejected(f"could not fetch the picture: {exc}") from None

    def _fetch_once(self, url: str) -> bytes:
        first = urlsplit(url).netloc.lower()
        for _ in range(MAX_REDIRECTS + 1):
            self._check_url(url)
            host = urlsplit(url).netloc.lower()
            auth = self._auth if self._auth and host == first and self._twilio(host) else None
            try:
                with self._client.stream("GET", url, auth=auth) as response:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        if not location:
                            raise MediaRejected("a redirect without a location")
                        url = urljoin(url, location)
                        continue
                    return self._body(response)
            except httpx.TransportError as exc:
                raise FetchFailed(type(exc).__name__) from exc
        raise MediaRejected(f"more than {MAX_REDIRECTS} redirects")

    def _twilio(self, netloc: str) -> bool:
        host = netloc.rpartition("@")[2].split(":")[0]
        return host == "twilio.com" or host.endswith(".twilio.com") or netloc in self._auth_hosts

    def _body(self, response: httpx.Response) -> bytes:
        status = response.status_code
        if status == 429 or status >= 500:
            raise FetchFailed(f"HTTP {status}")
        if status != 200:
            raise MediaRejected(f"the media host answered HTTP {status}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise MediaRejected(
                f"the picture is {int(declared):,} bytes; at most {self.max_bytes:,} are taken"
            )
        data = bytearray()
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) > self.max_bytes:
                raise MediaRejected(f"the picture is over {self.max_bytes:,} bytes")
        return bytes(data)

    def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MediaRejected("the picture's URL is not http(s)")
        host = parts.hostname.lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if host in self.allowed_private or f"{host}:{port}" in self.allowed_private:
            return
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchFailed(f"cannot resolve {host}") from exc
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if not address.is_global:
                raise MediaRejected(f"{host} is on a private network")


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    _logger.info("media.retry", attempt=state.attempt_number, error=repr(error))
