"""Pictures (MMS) end to end: a signed Twilio webhook, the fetch from a loopback media host,
the agents' authenticated route, an agent's attachment and the simulator's picture."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import Session, select

from app.config import Settings
from app.main import create_app
from app.storage.tables import HandoffItem, Message, MessageMedia, OutboxEntry
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, SMS_WEBHOOK, sign
from tests.console.conftest import PASSWORD, login
from tests.helpers import eventually
from tests.media.pictures import MediaHost, media_host, png

BASE = "https://sms.example.com"
CUSTOMER = "+12125550147"


@pytest.fixture
def host() -> Iterator[MediaHost]:
    with media_host() as serving:
        yield serving


def configured(settings: Settings, host: MediaHost, **extra: object) -> Settings:
    return settings.model_copy(
        update={
            "brand_id": "acme",
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_api_base_url": host.base,  # its host gets Twilio's credentials
            "public_base_url": BASE,
            "media_private_hosts": [f"127.0.0.1:{host.port}", f"localhost:{host.port}"],
            "workers": 2,
            "api_keys": [SecretStr("media-test-key")],
            **extra,
        }
    )


@pytest.fixture
def client(settings: Settings, host: MediaHost) -> Iterator[TestClient]:
    with TestClient(create_app(configured(settings, host))) as test_client:
        yield test_client


def mms(client: TestClient, *media: tuple[str, str], body: str = "", sid_digit: str = "a") -> None:
    sid = "MM" + sid_digit * 32
    form = {
        **{k: v for k, v in SMS_WEBHOOK.items() if k != "Body"},
        "From": CUSTOMER,
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "NumMedia": str(len(media)),
        **({"Body": body} if body else {}),
    }
    for index, (url, kind) in enumerate(media):
        form[f"MediaUrl{index}"], form[f"MediaContentType{index}"] = url, kind
    url = f"{BASE}/webhooks/twilio/sms"
    response = client.post(
        "/webhooks/twilio/sms",
        content=urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(url, form),
        },
    )
    assert response.status_code == 200, response.text


def engine_of(client: TestClient):  # type: ignore[no-untyped-def]
    return client.app.state.runtime.engine  # type: ignore[attr-defined]


def settled(client: TestClient, count: int) -> list[MessageMedia]:
    def rows() -> list[MessageMedia]:
        with Session(engine_of(client)) as session:
            return list(session.exec(select(MessageMedia).order_by(MessageMedia.position)))

    eventually(lambda: len(rows()) == count and all(m.state != "pending" for m in rows()))
    return rows()


def agent(client: TestClient, email: str, brands: list[str]) -> None:
    from app.handoff.agents import create_agent

    with Session(engine_of(client)) as session:
        create_agent(session, email=email, password=PASSWORD, role="agent", brands=brands)


def test_inbound_mms_is_fetched_with_twilio_auth_and_shown_only_to_its_brand(
    client: TestClient, host: MediaHost
) -> None:
    mms(client, (f"{host.base}/redirect", "image/png"))
    (media,) = settled(client, 1)
    assert media.state == "fetched", media.failure
    assert media.content_type == "image/png" and media.size == len(host.picture)
    # The credentials went to the MediaUrl's host only, not again after its redirect.
    assert host.authorizations == [host.basic(ACCOUNT_SID, AUTH_TOKEN), None]

    assert client.get(f"/console/media/{media.id}").status_code == 401  # no session
    agent(client, "other@example.com", ["globex"])
    login(client, "other@example.com")
    assert client.get(f"/console/media/{media.id}").status_code == 404  # another brand's
    agent(client, "ana@example.com", ["acme"])
    login(client, "ana@example.com")
    shown = client.get(f"/console/media/{media.id}")
    assert shown.status_code == 200
    assert shown.content == host.picture
    assert shown.headers["content-type"] == "image/png"
    assert shown.headers["cache-control"].startswith("private")
    assert shown.headers["x-content-type-options"] == "nosniff"

    # The integrator API lists the picture with the message (its bytes stay in the console).
    with Session(engine_of(client)) as session:
        message = session.get(Message, media.message_id)
        assert message is not None
    listed = client.get(
        f"/api/v1/conversations/{message.conversation_id}/messages",
        headers={"Authorization": "Bearer media-test-key"},
    )
    assert listed.status_code == 200, listed.text
    (api_media,) = listed.json()[0]["media"]
    assert api_media["state"] == "fetched" and api_media["sha256"] == media.sha256


def test_picture_only_text_goes_to_a_person_with_its_picture_in_the_thread(
    client: TestClient, host: MediaHost
) -> None:
    mms(client, (f"{host.base}/pic.png", "image/png"))
    (media,) = settled(client, 1)
    item = queued(client)
    agent(client, "ana@example.com", ["acme"])
    login(client, "ana@example.com")
    page = client.get(f"/console/conversations/{item.conversation_id}")
    assert f'src="/console/media/{media.id}"' in page.text


@pytest.mark.parametrize(
    ("path", "declared", "reason"),
    [
        ("/pic.png", "video/mp4", "not a picture"),
        ("/page", "image/png", "not a picture"),
        ("/missing", "image/png", "HTTP 404"),
    ],
)
def test_what_is_not_a_picture_is_recorded_with_its_reason(
    client: TestClient, host: MediaHost, path: str, declared: str, reason: str
) -> None:
    mms(client, (f"{host.base}{path}", declared))
    (media,) = settled(client, 1)
    assert media.state == "failed" and reason in (media.failure or "")
    assert media.storage_key is None
    if declared == "video/mp4":
        assert host.authorizations == []  # refused without a download


def test_a_picture_over_the_limit_is_refused(settings: Settings, host: MediaHost) -> None:
    host.picture = png(400, 400) + b"\0" * 4000
    with TestClient(create_app(configured(settings, host, media_max_bytes=2048))) as client:
        mms(client, (f"{host.base}/pic.png", "image/png"))
        (media,) = settled(client, 1)
    assert media.state == "failed" and "at most 2,048" in (media.failure or "")


def test_a_private_host_not_configured_is_refused(settings: Settings, host: MediaHost) -> None:
    with TestClient(create_app(configured(settings, host, media_private_hosts=[]))) as client:
        mms(client, (f"{host.base}/pic.png", "image/png"))
        (media,) = settled(client, 1)
    assert media.state == "failed" and "private network" in (media.failure or "")
    assert host.authorizations == []


def queued(client: TestClient) -> HandoffItem:
    """The queue item the customer's text made (each look a fresh read)."""

    def item() -> HandoffItem | None:
        with Session(engine_of(client)) as session:
            return session.exec(select(HandoffItem)).first()

    eventually(lambda: item() is not None)
    found = item()
    assert found is not None
    return found


def claimed_conversation(client: TestClient) -> tuple[uuid.UUID, str]:
    """A conversation of CUSTOMER in the queue, claimed by ana; returns it and her CSRF."""
    mms(client, body="my tent arrived torn, can someone help")
    item = queued(client)
    agent(client, "ana@example.com", ["acme"])
    csrf = login(client, "ana@example.com")
    claimed = client.post(f"/console/items/{item.id}/claim", headers={"X-CSRF-Token": csrf})
    assert claimed.status_code == 204, claimed.text
    return item.conversation_id, csrf


def test_agent_reply_with_a_picture_goes_out_with_a_signed_link(client: TestClient) -> None:
    conversation_id, csrf = claimed_conversation(client)
    picture = png(20, 20, (10, 120, 200))
    sent = client.post(
        f"/console/conversations/{conversation_id}/send",
        data={"send_key": uuid.uuid4().hex},
        files={"picture": ("torn.png", picture, "image/png")},
        headers={"X-CSRF-Token": csrf},
    )
    assert sent.status_code == 200 and "Not sent" not in sent.text, sent.text

    def outbox() -> list[OutboxEntry]:
        with Session(engine_of(client)) as session:
            return [e for e in session.exec(select(OutboxEntry)) if e.media]

    eventually(lambda: bool(outbox()))
    (entry,) = outbox()
    assert entry.body == "" and entry.media is not None
    (link,) = entry.media
    assert link.startswith(f"{BASE}/media/")
    parts = urlsplit(link)
    client.cookies.clear()  # the provider has no session
    public = client.get(f"{parts.path}?{parts.query}")
    assert public.status_code == 200 and public.content == picture
    assert public.headers["x-content-type-options"] == "nosniff"
    forged = re.sub(r"sig=[0-9a-f]", "sig=0", parts.query)
    forged = forged if forged != parts.query else parts.query.replace("sig=0", "sig=1")
    assert client.get(f"{parts.path}?{forged}").status_code == 404
    longer = re.sub(r"expires=(\d+)", lambda m: f"expires={int(m[1]) + 3600}", parts.query)
    assert client.get(f"{parts.path}?{longer}").status_code == 404


def test_agent_attachment_that_is_not_a_picture_is_refused(client: TestClient) -> None:
    conversation_id, csrf = claimed_conversation(client)
    sent = client.post(
        f"/console/conversations/{conversation_id}/send",
        data={"send_key": uuid.uuid4().hex, "body": "see attached"},
        files={"picture": ("notes.txt", b"just words", "image/png")},
        headers={"X-CSRF-Token": csrf},
    )
    assert "Not sent: not a picture smsdesk takes" in sent.text
    with Session(engine_of(client)) as session:
        outbound = session.exec(select(Message).where(Message.direction == "outbound")).all()
    assert all(m.purpose != "agent" for m in outbound)


def test_simulator_sends_a_picture_through_ingress(client: TestClient) -> None:
    picture = png(16, 16)
    response = client.post(
        "/simulator/send",
        data={"phone": CUSTOMER, "body": "", "sid": uuid.uuid4().hex},
        files={"picture": ("photo.png", picture, "image/png")},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and "1 picture" in response.text, response.text
    (media,) = settled(client, 1)
    assert media.state == "fetched" and media.sha256 is not None
    with Session(engine_of(client)) as session:
        message = session.get(Message, media.message_id)
        assert message is not None and message.provider == "simulator" and message.media


def test_a_picture_only_reply_still_meets_the_gate(client: TestClient) -> None:
    conversation_id, csrf = claimed_conversation(client)
    mms(client, body="STOP", sid_digit="b")

    def opted_out() -> bool:
        with Session(engine_of(client)) as session:
            return any(
                m.purpose == "opt_out_confirmation"
                for m in session.exec(select(Message).where(Message.direction == "outbound"))
            )

    eventually(opted_out)
    sent = client.post(
        f"/console/conversations/{conversation_id}/send",
        data={"send_key": uuid.uuid4().hex},
        files={"picture": ("torn.png", png(), "image/png")},
        headers={"X-CSRF-Token": csrf},
    )
    assert "Not sent: the customer has opted out" in sent.text


def test_an_upload_over_the_limit_is_413_before_it_is_read(
    settings: Settings, host: MediaHost
) -> None:
    with TestClient(create_app(configured(settings, host, media_max_bytes=2048))) as client:
        response = client.post(
            "/simulator/send",
            data={"phone": CUSTOMER, "sid": uuid.uuid4().hex},
            files={"picture": ("big.png", png(400, 400) + b"\0" * 80_000, "image/png")},
            headers={"HX-Request": "true"},
        )
    assert response.status_code == 413


def test_simulator_refuses_a_file_that_is_not_a_picture(client: TestClient) -> None:
    response = client.post(
        "/simulator/send",
        data={"phone": CUSTOMER, "body": "look", "sid": uuid.uuid4().hex},
        files={"picture": ("clip.gif", b"GIF00a not really", "image/gif")},
        headers={"HX-Request": "true"},
    )
    assert "Not sent: not a picture smsdesk takes (JPEG, PNG, GIF or WebP)" in response.text
    with Session(engine_of(client)) as session:
        assert session.exec(select(Message)).first() is None
