"""An MMS is stored with its pictures and one fetch job, in one transaction, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from app.channels.base import InboundSms, Media
from app.media.fetch import FETCH_MEDIA
from app.pipeline.ingress import accept_inbound
from app.storage.tables import Job, MessageMedia


def test_mms_pictures_are_stored_pending_with_one_fetch_job(engine: Engine) -> None:
    sms = InboundSms(
        "twilio",
        "MM" + "d" * 32,
        "+12125550123",
        "+15005550006",
        "",
        datetime.now(UTC),
        media=(
            Media("https://api.twilio.com/x/Media/ME1", "image/jpeg"),
            Media("https://api.twilio.com/x/Media/ME2", "video/mp4"),
        ),
    )
    accepted = accept_inbound(engine, sms, brand="default")
    again = accept_inbound(engine, sms, brand="default")  # Twilio's retry adds nothing
    assert not again.created
    with Session(engine) as session:
        media = session.exec(select(MessageMedia).order_by(MessageMedia.position)).all()
        jobs = session.exec(select(Job).where(Job.kind == FETCH_MEDIA)).all()
    assert [(m.position, m.state, m.content_type) for m in media] == [
        (0, "pending", "image/jpeg"),
        (1, "pending", "video/mp4"),
    ]
    assert {m.message_id for m in media} == {accepted.message_id}
    (job,) = jobs
    assert job.payload == {"message_id": str(accepted.message_id)}
    assert job.key == f"media|{accepted.message_id}"  # never holds up the conversation's work
