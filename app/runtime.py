"""The running parts of smsdesk, built once from settings: what the app, workers and tests share."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Engine

from app.campaigns import contract as campaign_seam
from app.campaigns.runner import CampaignRunner
from app.campaigns.service import RUN_CAMPAIGN
from app.channels.base import Sender
from app.channels.console import ConsoleSender
from app.compliance.replies import Brand
from app.compliance.service import Compliance
from app.config import Settings
from app.context import CustomerContext, build_context
from app.flows.answers import EncoderSource, FlowStep
from app.flows.matching import TextEncoder
from app.flows.runs import Flows
from app.flows.slots import from_context
from app.flows.survey import FLOW_SURVEY, SurveyStarter
from app.flows.webhooks import FLOW_WEBHOOK, WebhookSender
from app.handoff.requeue import requeue_due
from app.handoff.routing import Routing
from app.handoff.sla import FirstResponseSla
from app.jobs import JobEngine
from app.jobs.heartbeat import Heartbeat
from app.jobs.inprocess import InProcessEngine
from app.media.fetch import FETCH_MEDIA, MediaFetcher
from app.media.links import public_url
from app.outbound.pacing import SendPacer
from app.outbound.send import SEND_OUTBOUND, OutboundSender, release_due
from app.pipeline.decision import Decided
from app.pipeline.ingress import PROCESS_INBOUND
from app.pipeline.processor import RESPOND_INBOUND, InboundProcessor, wake_waiting
from app.pipeline.readiness import Readiness
from app.pipeline.responder import HandoffResponder, Responder, ResponderRequest
from app.pipeline.wording import wording_for
from app.signups import Signups
from app.storage import open_database


@dataclass
class Runtime:
    """Database, compliance, provider and the job engine, wired together."""

    settings: Settings
    engine: Engine
    compliance: Compliance
    sender: Sender
    jobs: JobEngine
    """The embedded engine on the `jobs` table (default; in a worker child with
    `worker_process`), or procrastinate's queue (scale-out), running the same handlers."""
    responder: Responder
    readiness: Readiness
    """Where the responder's warm-up stands: texts for the AI wait while it loads."""
    context: CustomerContext
    """Customers' own records (the built-in tables or the business's system): the responder
    reads them, the console shows them, flows offer `context.free_slots(...)`."""
    flows: Flows | None = None
    """The deployment's flows (`app.flows.start_flow(session, request, flows=runtime.flows)`)."""
    campaign_flows: campaign_seam.Flows | None = None
    """The same flows as bulk sends see them (`app.campaigns.contract`)."""

    def warm_up(self) -> None:
        """Load what processing needs (the AI models) in this thread (one-shot runs)."""
        warm_up = getattr(self.responder, "warm_up", None)
        if warm_up is not None:
            warm_up()

    def start_warm_up(self, *, then: Callable[[], None] | None = None) -> threading.Thread | None:
        """Load the AI models in the background: jobs run meanwhile, compliance first of all
        (a text for the AI waits until they are loaded, or goes to a person if they fail)."""

        def wake() -> None:
            if wake_waiting(self.engine):
                self.jobs.notify()

        return self.readiness.start(
            getattr(self.responder, "warm_up", None), then=then, settled=wake
        )

    def ai_status(self) -> str:
        """`off` (no AI layer), `loading`, `ready` or `failed: <reason>`."""
        if isinstance(self.responder, HandoffResponder):
            return "off"
        return self.readiness.describe()

    def close(self) -> None:
        """Release the database connections (and the customer system's)."""
        close_jobs = getattr(self.jobs, "close", None)
        if close_jobs is not None:
            close_jobs()
        close_context = getattr(self.context, "close", None)
        if close_context is not None:
            close_context()
        self.engine.dispose()


def make_sender(settings: Settings, engine: Engine) -> Sender:
    """The configured SMS provider."""
    if settings.sms_provider == "twilio":
        from app.channels.twilio import TwilioSender

        return TwilioSender.from_settings(settings)
    return ConsoleSender(engine, echo=settings.env != "test")


def make_responder(settings: Settings) -> Responder:
    """The configured responder: the AI layer (models load on first use), or people only."""
    if settings.bot == "off":
        return HandoffResponder()
    return DeferredAiResponder(settings)


class DeferredAiResponder:
    """The AI responder, imported and built by its warm-up (or first use), not at start-up.

    Importing the AI layer alone takes seconds (the LLM client, the encoder's libraries): a
    worker that did it before running jobs kept every STOP of its first seconds waiting."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._responder: Responder | None = None
        self._lock = threading.Lock()

    def _ai(self) -> Any:
        with self._lock:
            if self._responder is None:
                from app.ai.responder import AiResponder

                self._responder = AiResponder(self.settings)
            return self._responder

    def warm_up(self) -> None:
        """Import the AI layer, load its models and run one text through them."""
        self._ai().warm_up()

    def prepare(self, bodies: Sequence[str]) -> AbstractContextManager[object]:
        """The AI responder's batch encoding, once it is loaded (never loads it)."""
        prepare = getattr(self._responder, "prepare", None)
        if prepare is None:
            return nullcontext()
        prepared: AbstractContextManager[object] = prepare(bodies)
        return prepared

    def respond(self, request: ResponderRequest) -> Decided:
        """The AI responder's decision (importing and loading it first if needed)."""
        decided: Decided = self._ai().respond(request)
        return decided


def build_runtime(
    settings: Settings,
    *,
    engine: Engine | None = None,
    sender: Sender | None = None,
    responder: Responder | None = None,
    foreground_busy: Callable[[], bool] | None = None,
    campaign_flows: campaign_seam.Flows | None = None,
) -> Runtime:
    """Everything smsdesk needs to take and answer texts (parts can be swapped in tests)."""
    engine = engine or open_database(
        settings.db_url, busy_timeout=settings.sqlite_busy_timeout_seconds
    )
    compliance = Compliance(engine, settings)
    sender = sender or make_sender(settings, engine)
    status_callback = (
        settings.public_base_url.rstrip("/") + "/webhooks/twilio/status"
        if settings.sms_provider == "twilio"
        else None
    )
    readiness = Readiness()
    flows = Flows.from_settings(settings, provider=sender.name)
    chosen_responder = responder or make_responder(settings)
    context = build_context(settings, engine)
    flows.slots = from_context(context)  # the appointment flow offers real free slots
    routing = Routing.from_settings(settings)
    processor = InboundProcessor(
        engine=engine,
        compliance=compliance,
        responder=chosen_responder,
        readiness=readiness,
        brand=Brand.from_settings(settings),
        provider=sender.name,
        provider_handles_keywords=settings.provider_handles_keywords,
        sla=FirstResponseSla.from_settings(settings),
        wording=wording_for(settings),
        while_waiting=settings.while_waiting,
        flows=FlowStep(
            flows, min_score=settings.flow_match_min_score, margin=settings.flow_match_margin
        ),
        flow_encoder=_flow_encoder(settings, chosen_responder, readiness),
        context=context,
        signups=Signups(engine, compliance, settings, provider=sender.name),
        routing=routing,
    )
    pacer = SendPacer.from_settings(settings)
    outbound = OutboundSender(
        engine,
        compliance,
        sender,
        status_callback=status_callback,
        pacer=pacer,
        media_link=partial(public_url, settings),
    )
    campaign_flows = campaign_flows or campaign_seam.connect(flows)
    campaigns = CampaignRunner(
        engine,
        campaign_flows.starter,
        batch_size=settings.campaign_batch_size,
        feed_rate=pacer.feed_rate() if pacer is not None else None,
    )
    runner = InProcessEngine(
        engine,
        handlers={
            PROCESS_INBOUND: processor,
            RESPOND_INBOUND: processor.respond_later,
            SEND_OUTBOUND: outbound,
            FLOW_WEBHOOK: WebhookSender(settings.flow_webhook_secret.get_secret_value()),
            FLOW_SURVEY: SurveyStarter(engine, flows, enabled=settings.survey_after_resolve),
            RUN_CAMPAIGN: campaigns,
            FETCH_MEDIA: MediaFetcher(engine, settings),
        },
        workers=settings.workers,
        periodic=[partial(release_due, engine), partial(requeue_due, engine, routing)],
        yield_to=foreground_busy,
        # The local AI is CPU work: its texts one batch at a time; an LLM's wait is not.
        one_at_a_time=frozenset()
        if settings.llm_base_url
        else frozenset({PROCESS_INBOUND, RESPOND_INBOUND}),
    )
    jobs: JobEngine = runner
    if settings.execution_mode == "inprocess" and settings.worker_process:
        from app.jobs.worker_process import WorkerProcess

        jobs = WorkerProcess(settings, runner)
        if getattr(processor.responder, "warm_up", None) is not None:
            readiness.elsewhere()  # the child loads the AI; this process only bridges its start
        runner.kinds = frozenset({PROCESS_INBOUND, SEND_OUTBOUND})  # never the AI's own jobs
    elif settings.execution_mode == "procrastinate":
        from app.jobs.procrastinate_engine import ProcrastinateEngine

        # PostgreSQL only (ConfigurationError otherwise); from here on `enqueue` on this engine
        # defers procrastinate jobs instead of writing `jobs` rows.
        jobs = ProcrastinateEngine(runner, max_attempts=runner.max_attempts)
    runtime = Runtime(
        settings,
        engine,
        compliance,
        sender,
        jobs,
        processor.responder,
        readiness,
        context,
        flows,
        campaign_flows,
    )
    # Whoever runs `runner` (this process's loop, the worker child, `smsdesk worker`) beats.
    runner.heartbeat = Heartbeat(engine, mode=settings.execution_mode, ai=runtime.ai_status)
    return runtime


def _flow_encoder(settings: Settings, responder: Responder, readiness: Readiness) -> EncoderSource:
    """The sentence encoder for free-text flow answers, only while the AI layer may use it:
    never with the bot off, while the models load (exact keys only) or after they failed."""

    def encoder() -> TextEncoder | None:
        if settings.bot == "off" or isinstance(responder, HandoffResponder):
            return None
        if readiness.state in ("loading", "failed"):
            return None
        from app.ai.encoder import get_encoder

        return get_encoder(settings.encoder_threads)

    return encoder
