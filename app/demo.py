"""Demo data for a first `make run`: three sign-ins and a few conversations to look at.

`smsdesk serve` seeds it at start-up when `SMSDESK_DEMO` is on (the default in dev with the
console SMS provider). Seeding is idempotent: agents are created only when missing, and the
demo texts carry fixed provider message ids, so a second start stores nothing new. The texts go
through `accept_inbound` like any provider's, so the real pipeline (compliance, bot, human
queue) answers them once the workers run.

The passwords below are public: they are for demo data on a developer's machine only, and a
production start (`SMSDESK_ENV=prod`) refuses to seed them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from app import log
from app.channels.base import InboundSms
from app.chat import BUSINESS_NUMBER
from app.config import Settings
from app.context.demo import seed_customers
from app.errors import ConfigurationError
from app.exposure import check_exposure, is_loopback
from app.handoff.agents import (
    AgentError,
    Role,
    audit,
    authenticate,
    create_agent,
    disable_agent,
    find_agent,
)
from app.pipeline.ingress import accept_inbound
from app.storage.messages import now

DEMO_PROVIDER = "demo"
"""The provider name of the seeded texts (with their fixed ids: stored once, ever)."""


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """A demo sign-in for the agent console (the password is public)."""

    email: str
    password: str
    role: Role
    display_name: str


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("admin@demo.smsdesk", "demo-admin-password", "admin", "Demo Admin"),
    DemoAccount(
        "supervisor@demo.smsdesk", "demo-supervisor-password", "supervisor", "Demo Supervisor"
    ),
    DemoAccount("agent@demo.smsdesk", "demo-agent-password", "agent", "Demo Agent"),
)


@dataclass(frozen=True, slots=True)
class DemoText:
    """A customer's text that starts a demo conversation."""

    key: str
    """The provider message id: what makes seeding it a second time a no-op."""
    phone: str
    body: str
    minutes_ago: int


# Fictional numbers (555-01xx) outside the simulator's random range (212 555 01xx).
DEMO_TEXTS: tuple[DemoText, ...] = (
    DemoText("demo-hours", "+14155550131", "Hi! What time do you open on Sunday?", 14),
    DemoText("demo-person", "+14155550132", "Can I talk to a real person please?", 11),
    DemoText(
        "demo-angry",
        "+14155550133",
        "This is the THIRD time my order is late. Terrible service, I want my money back now!",
        7,
    ),
    DemoText("demo-stop", "+14155550134", "STOP", 3),
)


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    """The demo sign-ins, and what this seeding created."""

    accounts: tuple[DemoAccount, ...]
    created_agents: tuple[str, ...]
    """Emails of the agents created now (empty on every start after the first)."""
    seeded_texts: int
    """Demo texts stored now (0 once they are)."""
    customers: int = 0
    """Demo customers whose records (orders, appointments, memberships) were set now."""


class DemoRefused(ConfigurationError):
    """The demo (public passwords, fake conversations) cannot run with these settings."""

    code = "demo_refused"


def check_demo_allowed(settings: Settings) -> None:
    """DemoRefused in production, and with a real SMS provider (the demo texts would be
    answered through it)."""
    if settings.env == "prod":
        raise DemoRefused(
            "SMSDESK_DEMO is on with SMSDESK_ENV=prod: the demo's agents have public passwords; "
            "turn it off (SMSDESK_DEMO=false)"
        )
    if settings.sms_provider != "console":
        raise DemoRefused(
            "SMSDESK_DEMO needs the console SMS provider (SMSDESK_SMS_PROVIDER=console): the "
            "demo conversations would be answered through a real provider"
        )


def seed_demo(settings: Settings, engine: Engine) -> DemoCredentials:
    """Create the demo agents that are missing and store the demo texts not stored yet, in
    the migrated database `engine`.

    Raises DemoRefused in production. The texts' jobs run when the workers do.
    """
    check_demo_allowed(settings)
    created: list[str] = []
    with Session(engine) as session:
        for account in DEMO_ACCOUNTS:
            if find_agent(session, email=account.email) is not None:
                continue
            try:
                create_agent(
                    session,
                    email=account.email,
                    password=account.password,
                    role=account.role,
                    display_name=account.display_name,
                    brands=[settings.brand_id],
                )
            except AgentError:
                if find_agent(session, email=account.email) is None:
                    raise
                continue  # another process seeding at the same time created it
            created.append(account.email)
    # Before the texts are answered: a seeded question about an order finds it.
    customers = seed_customers(
        engine,
        brand=settings.brand_id,
        timezone=settings.business_timezone,
        location=settings.context_location,
    )
    seeded = 0
    start = now()
    for text in DEMO_TEXTS:
        sms = InboundSms(
            provider=DEMO_PROVIDER,
            provider_message_id=text.key,
            from_number=text.phone,
            to_number=settings.twilio_from_number or BUSINESS_NUMBER,
            body=text.body,
            received_at=start - timedelta(minutes=text.minutes_ago),
        )
        seeded += accept_inbound(engine, sms, brand=settings.brand_id).created
    return DemoCredentials(DEMO_ACCOUNTS, tuple(created), seeded, customers)


def retire_demo_accounts(engine: Engine) -> list[str]:
    """Disable every demo agent that still has its public password and end its sessions;
    return their emails. Run where the demo must not be live: production (a database first
    used by `make run` keeps them) and a server reachable from other machines.

    Disabled rather than refused: the server comes up, and an operator who wants one of these
    accounts sets a password of their own (`smsdesk agents password`) and enables it again.
    """
    retired: list[str] = []
    with Session(engine) as session:
        for account in DEMO_ACCOUNTS:
            if authenticate(session, email=account.email, password=account.password) is None:
                continue  # absent, already disabled, or given a password of its own
            disable_agent(session, email=account.email)
            audit(session, action="demo.account_disabled", target=account.email)
            session.commit()
            retired.append(account.email)
    if retired:
        log.get_logger("demo").warning(
            "demo.accounts_disabled",
            agents=retired,
            reason="public demo password outside local development",
            fix="smsdesk agents password <email>, then smsdesk agents enable <email>",
        )
    return retired


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):  # listening everywhere: this machine answers on loopback
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def banner(
    settings: Settings, *, host: str, port: int, credentials: DemoCredentials | None
) -> list[str]:
    """What `smsdesk serve` prints before the server starts: where to go, and how to sign in."""
    base = f"http://{_url_host(host)}:{port}"
    listening = f"[{host}]" if ":" in host else host
    reach = "this machine only" if is_loopback(host) else "reachable from other machines"
    lines = [f"smsdesk ({settings.brand_name}) is listening on {listening}:{port} ({reach})"]
    lines.append(f"  Agent console:    {base}/console/")
    if settings.simulator:
        lines.append(f"  Phone simulator:  {base}/simulator")
    if credentials is not None:
        lines.append(
            "  Demo sign-ins (public demo passwords; SMSDESK_DEMO=false turns the demo off):"
        )
        width = max(len(a.email) for a in credentials.accounts)
        for account in credentials.accounts:
            role = f"{account.role}:"
            lines.append(f"    {role:<12}{account.email:<{width}}  password {account.password}")
        if credentials.customers:
            lines.append(
                f"  {credentials.customers} demo customers: every simulator number has an order "
                '(ask "where\'s my order?"), most a Club membership, some an appointment.'
            )
        if credentials.seeded_texts:
            lines.append(
                f"  Seeded {credentials.seeded_texts} demo conversations: the bot and the "
                "compliance layer answer them as the server starts."
            )
    return lines


def start_up(settings: Settings, *, host: str, port: int) -> list[str]:
    """Refuse an unsafe exposure (UnsafeExposure), seed the demo when it is on (DemoRefused
    in production), retire demo agents left in a database served beyond loopback, and
    return the banner."""
    check_exposure(settings, host=host)  # before opening (and migrating) the database
    credentials: DemoCredentials | None = None
    if settings.demo:
        check_demo_allowed(settings)
        from app.storage import open_database

        engine = open_database(settings.db_url)
        try:
            credentials = seed_demo(settings, engine)
        finally:
            engine.dispose()
    elif not is_loopback(host):
        from app.storage import open_database

        engine = open_database(settings.db_url)
        try:
            retire_demo_accounts(engine)
        finally:
            engine.dispose()
    return banner(settings, host=host, port=port, credentials=credentials)
