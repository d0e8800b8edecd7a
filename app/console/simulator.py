"""The phone simulator at /simulator: text the business as a customer would, watch it answer.

A public page (no agent session), served only when `settings.simulator` is on (the default with
the console SMS provider, where no real customer can be texted). What the visitor types goes
through the same door as a provider's webhook (`accept_inbound`, then the job engine), and the
thread polls every second for the bot's and the agents' answers with their delivery status.

Its one state-changing route is guarded against cross-site posting without a session: it
needs htmx's `HX-Request: true` header (a cross-site HTML form cannot send one, and a
cross-site script cannot without a CORS preflight nobody answers) and a same-origin `Origin`.
Being public, it takes only so many texts per client address and per number
(`settings.simulator_rate_limit`).
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import phonenumbers
from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import RedirectResponse, Response
from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlmodel import Session, col, select

from app.api.deps import RuntimeDep
from app.channels.base import InboundSms, Media
from app.chat import BUSINESS_NUMBER
from app.compliance.parsing import parse_e164
from app.compliance.segments import MAX_TEXT_CHARS
from app.config import Settings
from app.console.deps import DbSession, client_ip
from app.console.flow_engine import FlowInfo, FlowStarterDep, find_flow, flow_catalogue
from app.console.flow_form import StartOutcome, start_from_form, variables_text
from app.console.templating import AUTHORS, render
from app.errors import InvalidPhoneNumber
from app.media.store import MediaRejected, read_upload, save
from app.pipeline.ingress import accept_inbound
from app.storage.messages import now
from app.storage.tables import Conversation, Message

router = APIRouter(prefix="/simulator", include_in_schema=False)

PROVIDER = "simulator"
"""The provider name of texts typed into the simulator (Message.provider holds 16 chars)."""
MAX_SHOWN = 200
"""The newest messages the thread shows (it is polled every second)."""
_SID = re.compile(r"^[0-9a-f]{32}$")
_NOT_SENT = ("blocked", "failed", "cancelled")


def random_phone() -> str:
    """A fictional US number in the range reserved for examples: +1 212 555 0100-0199."""
    return f"+121255501{secrets.randbelow(100):02d}"


def is_fictional(phone: str) -> bool:
    """Whether `phone` is a NANP number in a 555-0100..0199 range (never a real subscriber)."""
    return re.fullmatch(r"\+1[2-9]\d{2}55501\d{2}", phone) is not None


def simulator_phone(settings: Settings, text: str) -> str:
    """The E.164 number the visitor asked for; InvalidPhoneNumber with the reason otherwise.

    With a real SMS provider only fictional numbers are taken: the simulator must not let
    anyone act (say, text STOP) as a real customer.
    """
    raw = text.strip()
    if raw.isdigit() and len(raw) >= 8 and text[:1] == " ":
        raw = "+" + raw  # `?phone=+1212...` typed by hand: the query string made the + a space
    try:
        phone = parse_e164(raw)
    except InvalidPhoneNumber:
        raise InvalidPhoneNumber(
            f"{text.strip()[:40]!r} is not a phone number in international form: write it "
            "with + and the country code, e.g. +12125550123"
        ) from None
    if settings.sms_provider != "console" and not is_fictional(phone):
        raise InvalidPhoneNumber(
            "with a real SMS provider the simulator only takes fictional numbers "
            "(+1 NXX 555 0100 to 0199), e.g. +12125550123"
        )
    return phone


def display_phone(phone: str) -> str:
    """`+1 212-555-0123`: the number as a phone shows it."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return phone
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


class SendLimits:
    """Texts taken per key (a client address, a phone number) in moving windows.

    Counted in this process's memory: the simulator is a demo door, and a restart forgetting
    the counts costs nothing. (Behind several server processes each counts on its own.)
    """

    def __init__(self, spec: str) -> None:
        self._items = parse_many(spec)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def take(self, *keys: str) -> int | None:
        """Count one text for every key and return None; or, when a key is at its limit,
        count nothing and return the seconds until that key may text again."""
        for item in self._items:
            for key in keys:
                if not self._limiter.test(item, key):
                    reset_at = self._limiter.get_window_stats(item, key).reset_time
                    return max(1, math.ceil(reset_at - time.time()))
        for item in self._items:
            for key in keys:
                self._limiter.hit(item, key)
        return None


@dataclass(frozen=True, slots=True)
class Bubble:
    """One text as the simulated phone shows it."""

    id: uuid.UUID
    direction: str
    body: str
    who: str
    """Who wrote it: you (inbound), bot, agent, auto-reply, API."""
    at: datetime
    status: str
    note: str | None
    """Why an outbound text did not go out (yet), when it did not."""
    pictures: int = 0
    """How many pictures came with it (the phone shows a marker, not the picture)."""
    goes_out: datetime | None = None
    """When a scheduled text goes out."""


@dataclass(frozen=True, slots=True)
class ThreadView:
    """The visitor's conversation: its texts, its state and a fingerprint of both."""

    bubbles: Sequence[Bubble]
    with_person: bool
    fingerprint: str


def _bubble(message: Message) -> Bubble:
    note: str | None = None
    goes_out: datetime | None = None
    if message.direction == "inbound":
        who = "you"
    else:
        who = AUTHORS.get(message.purpose or "", "auto-reply" if message.purpose else "business")
        if message.status == "scheduled" and message.send_after is not None:
            goes_out = message.send_after
            note = message.status_reason or None
        elif message.status in _NOT_SENT:
            note = message.status_reason or None
    return Bubble(
        id=message.id,
        direction=message.direction,
        body=message.body,
        who=who,
        at=message.created_at,
        status=message.status,
        note=note,
        pictures=len(message.media),
        goes_out=goes_out,
    )


def thread_view(session: Session, *, brand: str, phone: str) -> ThreadView:
    """The newest texts of (brand, phone), oldest first, both directions."""
    conversation = session.exec(
        select(Conversation).where(Conversation.brand == brand, Conversation.phone_e164 == phone)
    ).first()
    if conversation is None:
        return ThreadView((), with_person=False, fingerprint="none")
    rows = session.exec(
        select(Message)
        .where(Message.conversation_id == conversation.id)
        .order_by(col(Message.created_at).desc(), col(Message.id).desc())
        .limit(MAX_SHOWN)
    ).all()
    bubbles = [_bubble(m) for m in reversed(rows)]
    state = [conversation.status] + [f"{b.id}:{b.status}:{b.note}:{b.goes_out}" for b in bubbles]
    digest = hashlib.blake2s("|".join(state).encode(), digest_size=8).hexdigest()
    return ThreadView(bubbles, with_person=conversation.status == "human", fingerprint=digest)


def _wait_text(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} s"
    return f"{math.ceil(seconds / 60)} min"


def _enabled(runtime: RuntimeDep) -> Settings:
    settings = runtime.settings
    if not settings.simulator:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="not found")
    return settings


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def require_same_site_htmx(request: Request, settings: Settings) -> None:
    """403 unless the request is htmx's (`HX-Request: true`) from a page of this origin."""
    if request.headers.get("HX-Request") != "true":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="the simulator posts with htmx only")
    origin = request.headers.get("Origin")
    own = {_origin(str(request.base_url)), _origin(settings.public_base_url)}
    if origin is not None and origin.lower() not in own:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="cross-origin request refused")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site != "same-origin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="cross-site request refused")


def _screen_context(
    settings: Settings,
    db: Session,
    phone: str,
    *,
    body: str = "",
    send_error: str | None = None,
) -> dict[str, Any]:
    view = thread_view(db, brand=settings.brand_id, phone=phone)
    return {
        "console": None,
        "section": "simulator",
        "phone": phone,
        "phone_shown": display_phone(phone),
        "thread": view,
        "thread_url": "/simulator/thread?" + urlencode({"phone": phone, "v": view.fingerprint}),
        "sid": uuid.uuid4().hex,
        "body": body,
        "send_error": send_error,
    }


@router.get("")
def simulator_page(
    request: Request,
    runtime: RuntimeDep,
    db: DbSession,
    phone: Annotated[str | None, Query(description="The customer's number, E.164")] = None,
) -> Response:
    """The phone: a random fictional number on first visit, kept in the URL afterwards."""
    settings = _enabled(runtime)
    if phone is None or not phone.strip():
        return RedirectResponse("/simulator?" + urlencode({"phone": random_phone()}), 303)
    try:
        number = simulator_phone(settings, phone)
    except InvalidPhoneNumber as exc:
        context = {
            "console": None,
            "section": "simulator",
            "phone": None,
            "phone_input": phone.strip()[:40],
            "phone_error": str(exc),
        }
        return render(request, "simulator.html", context, status_code=400)
    if number != phone:  # keep one URL per number: reloads and links stay on the same thread
        return RedirectResponse("/simulator?" + urlencode({"phone": number}), 303)
    screen = _screen_context(settings, db, number)
    screen.update(phone_input=number, phone_error=None, flow_form=flow_form(settings))
    return render(request, "simulator.html", screen)


@router.get("/thread")
def simulator_thread(
    request: Request, runtime: RuntimeDep, db: DbSession, phone: str = "", v: str | None = None
) -> Response:
    """The thread, polled every second; 204 (htmx keeps what it shows) when `v`, the
    fingerprint the page holds, is still current."""
    settings = _enabled(runtime)
    try:
        number = simulator_phone(settings, phone)
    except InvalidPhoneNumber as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from None
    context = _screen_context(settings, db, number)
    if v is not None and v == context["thread"].fingerprint:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return render(request, "partials/simulator_thread.html", context)


@router.post("/send")
def simulator_send(
    request: Request,
    runtime: RuntimeDep,
    db: DbSession,
    phone: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    sid: Annotated[str, Form()] = "",
    picture: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Text the business from `phone`: stored as any provider's inbound text, then processed.

    Answers with the phone's screen (thread and a fresh form); a refused text comes back in
    the form with the reason (status 200, so that htmx shows it).
    """
    settings = _enabled(runtime)
    require_same_site_htmx(request, settings)
    try:
        number = simulator_phone(settings, phone)
    except InvalidPhoneNumber as exc:
        context = {"console": None, "phone": None, "phone_error": str(exc)}
        return render(request, "partials/simulator_screen.html", context)
    error: str | None = None
    attached = picture is not None and bool(picture.filename)
    if not body.strip() and not attached:
        error = "Type a message first: an empty text is not sent."
    elif len(body) > MAX_TEXT_CHARS:
        error = f"A text can be at most {MAX_TEXT_CHARS} characters; this one has {len(body)}."
    if error is None:
        limits: SendLimits = request.app.state.simulator_limits
        wait = limits.take(f"address:{client_ip(request)}", f"phone:{number}")
        if wait is not None:
            error = f"Too many texts from here for now: try again in {_wait_text(wait)}."
    media: tuple[Media, ...] = ()
    if error is None and picture is not None and attached:
        # Checked and stored (only once the rate limit let it through) like an agent's
        # attachment; the text then carries it as an MMS whose picture is already here.
        limit = settings.media_max_bytes
        try:
            stored = save(
                settings.media_path, read_upload(picture.file, max_bytes=limit), max_bytes=limit
            )
        except MediaRejected as exc:
            error = f"Not sent: {exc}."
        else:
            media = (Media(url="", content_type=stored.content_type, upload=stored),)
    if error is not None:
        context = _screen_context(settings, db, number, body=body, send_error=error)
        return render(request, "partials/simulator_screen.html", context)
    # The form's one-time id makes a double submit (or a retried request) store one text.
    message_id = sid if _SID.fullmatch(sid) else uuid.uuid4().hex
    sms = InboundSms(
        provider=PROVIDER,
        provider_message_id=f"SIM{message_id}",
        from_number=number,
        to_number=settings.twilio_from_number or BUSINESS_NUMBER,
        body=body,
        received_at=now(),
        media=media,
    )
    accept_inbound(runtime.engine, sms, brand=settings.brand_id)
    runtime.jobs.notify()
    return render(request, "partials/simulator_screen.html", _screen_context(settings, db, number))


# ---------------------------------------------------------------------------- flows


def flows_allowed(settings: Settings) -> bool:
    """Flows are sent to the simulated phone only with the console SMS provider: with a real
    one the first text would go to a (fictional) number through the carrier."""
    return settings.sms_provider == "console"


def flow_form(
    settings: Settings,
    *,
    flow: FlowInfo | None = None,
    variables: str | None = None,
    outcome: StartOutcome | None = None,
) -> dict[str, Any] | None:
    """The "Try a flow" form's values (None when flows cannot be tried here)."""
    catalogue = flow_catalogue(settings)
    if not flows_allowed(settings) or not catalogue:
        return None
    chosen = flow or catalogue[0]
    return {
        "catalogue": catalogue,
        "chosen": chosen,
        "variables": variables_text(chosen, examples=True) if variables is None else variables,
        "form_key": uuid.uuid4().hex,
        "outcome": outcome,
    }


def _flow_partial(request: Request, phone: str, form: dict[str, Any] | None) -> Response:
    if form is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no flows to try here")
    context = {"console": None, "phone": phone, **form}
    return render(request, "partials/simulator_flow.html", context)


@router.get("/flow-form")
def simulator_flow_form(
    request: Request, runtime: RuntimeDep, phone: str = "", flow: str = ""
) -> Response:
    """The "Try a flow" form for another flow, its variables filled with example values."""
    settings = _enabled(runtime)
    try:
        number = simulator_phone(settings, phone)
    except InvalidPhoneNumber as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from None
    chosen = find_flow(flow_catalogue(settings), flow)
    return _flow_partial(request, number, flow_form(settings, flow=chosen))


@router.post("/flow")
def simulator_start_flow(
    request: Request,
    runtime: RuntimeDep,
    db: DbSession,
    starter: FlowStarterDep,
    phone: Annotated[str, Form(max_length=40)] = "",
    flow: Annotated[str, Form(max_length=64)] = "",
    variables: Annotated[str, Form(max_length=20_000)] = "",
    form_key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Send a flow to the simulated phone, as the console's start form would: its first text
    goes through the send-time gate and shows on the phone; the visitor answers it there
    (through the same door as any text). Refusals come back in the form."""
    settings = _enabled(runtime)
    require_same_site_htmx(request, settings)
    if not flows_allowed(settings):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no flows to try here")
    try:
        number = simulator_phone(settings, phone)
    except InvalidPhoneNumber as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from None
    chosen = find_flow(flow_catalogue(settings), flow)
    limits: SendLimits = request.app.state.simulator_limits
    wait = limits.take(f"address:{client_ip(request)}", f"phone:{number}")
    if wait is not None:
        outcome = StartOutcome(
            error=f"Too many texts from here for now: try again in {_wait_text(wait)}."
        )
    else:
        outcome = start_from_form(
            db,
            starter,
            catalogue=flow_catalogue(settings),
            brand=settings.brand_id,
            flow_name=flow,
            phone_text=number,
            variables=variables,
            form_key=form_key,
        )
        if outcome.ok:
            runtime.jobs.notify()
    form = flow_form(
        settings, flow=chosen, variables=None if outcome.ok else variables, outcome=outcome
    )
    return _flow_partial(request, number, form)
