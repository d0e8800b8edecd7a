"""Settings: the one place configuration enters smsdesk (environment variables `SMSDESK_*`)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from app.errors import ConfigurationError, InvalidInput

# Development placeholders: `make run` and `smsdesk chat` work with no configuration at all,
# and a production start refuses them (they are public, in this file).
DEV_TWILIO_AUTH_TOKEN = "smsdesk-dev-auth-token"
DEV_API_KEY = "smsdesk-dev-key"


class Settings(BaseSettings):
    """Every setting of smsdesk; each is read from `SMSDESK_<NAME>` (see README)."""

    model_config = SettingsConfigDict(
        env_prefix="SMSDESK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["dev", "test", "prod"] = "dev"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    # The business: words customers read in HELP, STOP and START replies (SPEC §8).
    brand_id: str = Field(default="default", min_length=1, max_length=64)
    brand_name: str = Field(default="Acme", min_length=1, max_length=40)
    support_phone: str = "1-800-555-0199"
    support_url: str = "acme.com/help"
    support_url_es: str = "acme.com/ayuda"
    message_frequency: str = "Msg frequency varies"
    program_description: str = "customer care texts"

    # Storage.
    data_dir: Path = Path("data")
    database_url: str | None = None
    sqlite_busy_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    """How long a request waits for SQLite's write lock (held by another request or process)
    before it is answered 503, which a provider retries."""

    # Compliance policy.
    strict_mode: bool = False
    """IN-7 strict mode: no reply at all to a sender who has opted out."""
    marketing_only_revocations_until: date | None = date(2027, 1, 31)
    """SCOPE-2: until this date a revocation naming only marketing revokes only marketing
    (FCC revoke-all waiver, DA 26-12). None turns SCOPE-2 off: every revocation revokes all."""
    governor_holidays: list[date] = Field(default_factory=list)
    """QH-9: extra no-solicitation days declared by a governor (e.g. Louisiana)."""
    reply_window_hours: int = Field(default=24, ge=1, le=72)
    max_reply_chars: int = Field(default=320, ge=70, le=1600)

    # Server.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_base_url: str = ""
    """The URL the SMS provider calls (signatures are computed over it; set it behind proxies).
    Default: http://127.0.0.1:<SMSDESK_PORT> (the host when it is a specific address), so that
    `smsdesk chat` and the signatures follow a changed port."""
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    """Keys for the integrator API (`Authorization: Bearer <key>`), comma-separated; an
    entry `key:brand1|brand2` reaches only those brands (see app/api/keys.py)."""
    max_webhook_bytes: int = Field(default=65_536, ge=1_024)
    max_body_bytes: int = Field(default=65_536, ge=1_024, le=16_777_216)
    """The largest request body any other route reads (413 beyond it, counted as it arrives)."""
    max_concurrent_requests: int = Field(default=4, ge=1, le=256)
    """Console and API requests handled at once; more wait their turn (webhooks never wait)."""

    # Pictures (MMS): README "Pictures (MMS)".
    media_dir: Path | None = None
    """Where pictures are stored (inbound MMS and agents' attachments); default <data dir>/media."""
    media_max_bytes: int = Field(default=5_242_880, ge=1_024, le=16_777_216)
    """The largest picture taken, either way (Twilio's limit for an MMS is 5 MB)."""
    media_signing_key: SecretStr = SecretStr("")
    """The HMAC key of the expiring public URLs of agents' attachments (Twilio fetches them);
    empty: a random key kept in <media dir>/.signing_key (set it when several machines serve)."""
    media_private_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Hosts on loopback or private networks that pictures may be fetched from (comma-separated
    `host` or `host:port`); every other private-network address is refused."""

    # SMS provider.
    sms_provider: Literal["console", "twilio"] = "console"
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_base_url: str | None = None
    """Override Twilio's REST base URL (a regional edge, or a test double on loopback)."""
    provider_handles_keywords: bool = False
    """PROV-1 (b): the provider answers STOP/START itself, so smsdesk sends no confirmation."""

    # Processing.
    execution_mode: Literal["inprocess", "procrastinate"] = "inprocess"
    workers: int = Field(default=4, ge=1, le=64)
    worker_process: bool | None = None
    """Embedded mode: run the job workers in a child process of `smsdesk serve`, so that
    acknowledging texts never waits for processing them (default: on, except SMSDESK_ENV=test,
    where the workers run on the server's event loop)."""

    # Human queue and console.
    sla_first_response_minutes: int = Field(default=15, ge=1, le=10_080)
    """First human response target for a handed-off conversation, in business minutes."""
    business_hours: str = "mon-fri 09:00-18:00"
    """When agents work, e.g. `mon-fri 09:00-18:00; sat 10:00-14:00` (the SLA clock runs then)."""
    business_timezone: str = "America/New_York"
    business_holidays: str | None = "US"
    """Public holidays the SLA clock skips (a `holidays` country code; empty: none)."""
    safety_first_response_minutes: int = Field(default=5, ge=1, le=240)
    """First human response target for a safety hand-off, in wall-clock minutes (24/7)."""
    emergency_number: str = Field(default="911", min_length=2, max_length=20)
    """Emergency services, named in the safety text a customer in danger receives."""
    crisis_line: str = Field(default="988", min_length=2, max_length=20)
    """The suicide and crisis line named in the safety text (US: 988)."""
    while_waiting: Literal["answer", "silent"] = "answer"
    """What the bot does with a plain question while a hand-off waits unclaimed: `answer` it
    from the knowledge base (the customer is helped now; the agent sees it in the thread), or
    stay `silent`. Once an agent owns the conversation the bot only drafts."""
    auto_assign: Literal["off", "round_robin", "least_busy"] = "least_busy"
    """How a new hand-off item finds an owner: `least_busy` gives it to the online agent with
    the fewest claimed items (ties: whoever was auto-assigned longest ago), `round_robin` to
    whoever was auto-assigned longest ago, `off` leaves it in the open queue to be claimed."""
    agent_capacity: int = Field(default=5, ge=1, le=100)
    """Claimed items an agent holds before auto-assignment passes them by (per-agent override on
    the Agents page or `smsdesk agents capacity`)."""
    requeue_after_minutes: int = Field(default=0, ge=0, le=10_080)
    """Take a claimed item back from an agent who has not replied within this many business
    minutes of owning it (0: never)."""
    canned_responses_file: Path = Path("knowledge/canned_responses.yaml")
    phone_region: str = Field(default="US", min_length=2, max_length=3)
    """The country a number typed in the console's search without +country is read in
    (a phonenumbers region code: `US`, `GB`)."""
    simulator: bool | None = None
    """The phone simulator page at /simulator (default: on with the console SMS provider,
    outside production; refused in production: it lets anyone text as any number)."""
    simulator_rate_limit: str = "10/minute;100/hour"
    """How many texts the public simulator takes from one client address, and for one phone
    number (`limits` notation: `N/second|minute|hour|day`, several separated by `;`)."""
    demo: bool | None = None
    """Seed demo agents and conversations on first start (default: on in dev with the console
    SMS provider)."""
    # AI layer (offline by default; an LLM only when llm_base_url is set).
    bot: Literal["ai", "off"] = "ai"
    """`ai` answers what the knowledge base can; `off` hands every passed text to a person."""
    knowledge_dir: Path = Path("knowledge")
    """The knowledge base: FAQ entries (Markdown with front matter) and the intent catalogue."""
    prompts_dir: Path = Path("prompts")
    """The LLM prompts (Markdown files)."""
    chroma_host: str | None = None
    """A Chroma server for scale-out; None keeps the embedded index under the data dir."""
    chroma_port: int = Field(default=8000, ge=1, le=65535)
    encoder_threads: int = Field(default=1, ge=1, le=64)
    """Torch threads of the sentence encoder (numpy's BLAS is held to one thread)."""
    intent_min_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    """Below this calibrated confidence the text goes to a person (low_confidence)."""
    negative_sentiment_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    """At or above this probability of negative sentiment the text goes to a person."""
    retrieval_min_score: float = Field(default=0.45, ge=0.0, le=1.0)
    """A knowledge entry below this similarity does not ground a reply (no_knowledge)."""
    llm_base_url: str | None = None
    """An OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server), e.g.
    http://127.0.0.1:11434/v1; None runs fully offline."""
    llm_api_key: SecretStr = SecretStr("")
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=8.0, gt=0, le=120)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    llm_price_input_per_mtok: float = Field(default=0.15, ge=0)
    """US dollars per million prompt tokens, for the evals' cost estimate (gpt-4o-mini's)."""
    llm_price_output_per_mtok: float = Field(default=0.60, ge=0)
    """US dollars per million completion tokens, for the evals' cost estimate."""

    # Two-way flows (issue 14): notifications that invite replies.
    flows_dir: Path = Path("flows")
    """The flow files (`*.yaml`, docs/flows.md), validated when the app starts."""
    flow_reply_window_hours: int = Field(default=48, ge=1, le=720)
    """How long a flow's question accepts an answer, unless the flow sets `reply_window`: an old
    "1" after that goes to the normal pipeline, not to a question long gone."""
    flow_webhook_url: str | None = None
    """Where flow webhook events are POSTed (a flow's `webhook_url` overrides it); None: none."""
    flow_webhook_secret: SecretStr = SecretStr("")
    """The HMAC-SHA256 key of the `X-Smsdesk-Signature` header on flow webhooks."""
    flow_match_min_score: float = Field(default=0.55, ge=0.0, le=1.0)
    """A free-text reply means an option only at this cosine similarity to its examples or above."""
    flow_match_margin: float = Field(default=0.05, ge=0.0, le=1.0)
    """... and only this far ahead of the next option (an unsure reading is no answer)."""
    survey_after_resolve: bool = True
    """Send `satisfaction_survey` once after an agent resolves a hand-off (never after a safety
    hand-off, never to an opted-out number)."""
    # Customer context (docs/customer-context.md): who is texting, their orders and bookings.
    context_url: str | None = None
    """The business's own customer system (GET <url>/customers/<phone>); None: the built-in
    tables (`smsdesk context import`, the demo seed)."""
    context_token: SecretStr = SecretStr("")
    """Sent as `Authorization: Bearer <token>` to SMSDESK_CONTEXT_URL."""
    context_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    """Per request to SMSDESK_CONTEXT_URL; a slower answer counts as the system being down."""
    context_retries: int = Field(default=2, ge=0, le=5)
    """Retries after a transport error or a 5xx (then a person answers: context_unavailable)."""
    context_cache_seconds: float = Field(default=60.0, ge=0, le=3600)
    """How long a customer's record is reused before it is asked again (0: never cached)."""
    context_slot_minutes: int = Field(default=60, ge=15, le=480)
    """The built-in source's appointment length: free slots every this many minutes within
    SMSDESK_BUSINESS_HOURS, minus booked appointments."""
    context_location: str = Field(default="Acme Downtown", max_length=200)
    """Where the built-in source's free slots are (one store)."""
    # Signups through the API (issue 14): double opt-in by default.
    signup_mode: Literal["double", "single"] = "double"
    """`double`: a signup records consent only when the customer texts YES to the "Reply YES"
    text; `single`: the API call itself records consent and sends the opt-in confirmation."""
    signup_confirm_window_hours: int = Field(default=168, ge=1, le=720)
    """How long a double opt-in signup waits for the customer's YES (default 7 days)."""
    signup_requests_per_day: int = Field(default=3, ge=1, le=20)
    """The most "Reply YES" texts one number gets in 24 hours, whatever is posted for it."""
    # Bulk sends and throughput (README "Bulk sends"). Carriers take about one segment a second
    # from a long code, and up to 75 a second on a top-tier 10DLC campaign.
    send_rate_per_number: str | None = None
    """The most texts one sending number hands to the provider (`limits` notation: `N/second`,
    `N/minute`); a text over it waits its turn, it is never dropped. Default: `1/second` (a
    long code) with Twilio; no limit with the console provider (no carrier behind it)."""
    send_rate_per_campaign: str | None = None
    """The most texts one bulk send hands to the provider across its sending numbers (None:
    only the per-number limit)."""
    send_rate_storage_url: str = "memory://"
    """Where the send counters live: `memory://` (one process: the embedded default), or
    `redis://host:6379` when several workers send (scale-out; needs the `redis` package)."""
    campaign_batch_size: int = Field(default=50, ge=1, le=1_000)
    """Recipients of a bulk send started per job (each batch commits, so a restart resumes)."""
    marketing_cap_per_number: int | None = Field(default=None, ge=1, le=1_000)
    """A brand-wide cap on marketing texts to one number per `marketing_cap_hours` (None: off;
    the state caps of QH-3 apply regardless)."""
    marketing_cap_hours: int = Field(default=168, ge=1, le=24 * 31)

    @property
    def media_path(self) -> Path:
        """Where pictures are stored (SMSDESK_MEDIA_DIR, else under the data dir)."""
        return self.media_dir if self.media_dir is not None else self.data_dir / "media"

    @property
    def models_dir(self) -> Path:
        """Where trained model artifacts live (under the data dir)."""
        return self.data_dir / "models"

    @property
    def chroma_dir(self) -> Path:
        """Where the embedded chromadb index lives (under the data dir)."""
        return self.data_dir / "chroma"

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("brand_name")
    @classmethod
    def _brand_is_gsm_friendly(cls, value: str) -> str:
        if any(ch in value for ch in "\n\r"):
            raise ValueError("brand_name must be a single line")
        return value.strip()

    @field_validator("phone_region")
    @classmethod
    def _region_is_known(cls, value: str) -> str:
        import phonenumbers

        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"phone_region {value!r} is not a region code such as 'US' or 'GB'")
        return region

    @field_validator("simulator_rate_limit")
    @classmethod
    def _rate_limit_parses(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                f"simulator_rate_limit {value!r} is not a rate limit such as '10/minute;100/hour'"
            ) from None
        return value

    @field_validator("send_rate_per_number", "send_rate_per_campaign")
    @classmethod
    def _send_rate_parses(cls, value: str | None) -> str | None:
        from limits import parse

        if value is None:
            return None
        try:
            parse(value)
        except ValueError:
            raise ValueError(f"send rate {value!r} is not a rate such as '1/second'") from None
        return value

    @field_validator("media_private_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [host.strip().lower() for host in value.split(",") if host.strip()]
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            value = [key.strip() for key in value.split(",") if key.strip()]
        if isinstance(value, list):
            from app.api.keys import parse_entry

            for entry in value:
                parse_entry(entry.get_secret_value() if isinstance(entry, SecretStr) else entry)
        return value

    @model_validator(mode="after")
    def _defaults_and_secrets(self) -> Settings:
        if self.worker_process is None:
            self.worker_process = self.env != "test"
        if self.simulator is None:
            self.simulator = self.sms_provider == "console" and self.env != "prod"
        if self.demo is None:
            self.demo = self.env == "dev" and self.sms_provider == "console"
        if self.database_url is None:
            self.database_url = f"sqlite:///{(self.data_dir / 'smsdesk.db').as_posix()}"
        if not self.public_base_url:
            self.public_base_url = f"http://{_url_host(self.host)}:{self.port}"
        if self.env == "dev":
            if not self.twilio_auth_token.get_secret_value():
                self.twilio_auth_token = SecretStr(DEV_TWILIO_AUTH_TOKEN)
            if not self.api_keys:
                self.api_keys = [SecretStr(DEV_API_KEY)]
        elif self.env == "prod":
            self._refuse_placeholders()
        return self

    @model_validator(mode="after")
    def _usable_business_hours(self) -> Settings:
        from app.handoff.sla import BusinessClock  # the parser lives with the SLA clock

        clock = BusinessClock(self.business_hours, self.business_timezone, self.business_holidays)
        try:
            clock.validate()
        except InvalidInput as exc:
            # The clock's messages say what is wrong, not which of the three settings it is in.
            message = str(exc)
            variable = (
                "SMSDESK_BUSINESS_TIMEZONE"
                if "time zone" in message
                else "SMSDESK_BUSINESS_HOLIDAYS"
                if "holidays" in message
                else "SMSDESK_BUSINESS_HOURS"
            )
            raise ValueError(f"{variable}: {message}") from None
        return self

    @model_validator(mode="after")
    def _procrastinate_needs_postgresql(self) -> Settings:
        # Checked here, not when the job engine starts: a start-up failure inside the server is
        # a long traceback, a settings error is one line naming the variables.
        scheme = self.db_url.partition(":")[0].partition("+")[0].lower()
        if self.execution_mode == "procrastinate" and scheme not in ("postgresql", "postgres"):
            raise ValueError(
                "SMSDESK_EXECUTION_MODE=procrastinate needs a PostgreSQL database "
                f"(SMSDESK_DATABASE_URL=postgresql://...), and the configured database is "
                f"{scheme or 'not a URL'}"
            )
        return self

    @model_validator(mode="after")
    def _twilio_is_complete(self) -> Settings:
        # The sender would refuse the same gaps, but only once the server is starting up.
        if self.sms_provider != "twilio":
            return self
        missing = [
            name
            for name, value in (
                ("SMSDESK_TWILIO_ACCOUNT_SID", self.twilio_account_sid),
                ("SMSDESK_TWILIO_AUTH_TOKEN", self.twilio_auth_token.get_secret_value()),
            )
            if not value
        ]
        if not self.twilio_from_number and not self.twilio_messaging_service_sid:
            missing.append("SMSDESK_TWILIO_FROM_NUMBER (or SMSDESK_TWILIO_MESSAGING_SERVICE_SID)")
        if missing:
            raise ValueError(f"SMSDESK_SMS_PROVIDER=twilio needs {' and '.join(missing)}")
        return self

    def _refuse_placeholders(self) -> None:
        token = self.twilio_auth_token.get_secret_value()
        if self.sms_provider == "twilio" and token in ("", DEV_TWILIO_AUTH_TOKEN):
            raise ValueError("SMSDESK_TWILIO_AUTH_TOKEN must be set to your Twilio auth token")
        if any(key.get_secret_value().partition(":")[0] == DEV_API_KEY for key in self.api_keys):
            raise ValueError("SMSDESK_API_KEYS contains the public development key")
        if self.simulator:
            raise ValueError(
                "SMSDESK_SIMULATOR is on with SMSDESK_ENV=prod: the public phone simulator reads "
                "and texts as any number; turn it off (SMSDESK_SIMULATOR=false)"
            )

    @property
    def db_url(self) -> str:
        """The database URL, with the embedded SQLite default filled in."""
        assert self.database_url is not None
        return self.database_url


def _url_host(host: str) -> str:
    """The host part of a URL that reaches a server listening on `host`."""
    if host in ("", "0.0.0.0", "::"):  # every interface: this machine answers on loopback
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


class SettingsInvalid(ConfigurationError):
    """The environment (or .env) holds a setting smsdesk cannot use; the message names it."""

    code = "invalid_settings"


_SECRET_WORDS = ("token", "key", "secret", "password")


def describe_invalid(exc: ValidationError) -> str:
    """One line naming each bad variable and what is wrong with it (values of secrets kept out).

    `SMSDESK_WORKERS=abc` -> `SMSDESK_WORKERS='abc': input should be a valid integer, ...`.
    """
    problems = []
    for error in exc.errors(include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        fields = [str(part) for part in error["loc"] if isinstance(part, str)]
        if not fields:  # a check across settings: its message names the variables itself
            problems.append(message)
            continue
        variable = f"SMSDESK_{fields[0].upper()}"
        value = error.get("input")
        shown = (
            f"={value!r}"
            if isinstance(value, str | int | float)
            and not any(word in fields[0] for word in _SECRET_WORDS)
            and len(str(value)) <= 80
            else ""
        )
        problems.append(f"{variable}{shown}: {message[:1].lower()}{message[1:]}")
    return "; ".join(" ".join(problem.split()) for problem in problems)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment; SettingsInvalid (one line
    naming the variable) when a value cannot be used."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsInvalid(describe_invalid(exc)) from None
    except SettingsError as exc:  # a list or JSON value that is not even parseable
        raise SettingsInvalid(_describe_unparsable(exc)) from None


def _describe_unparsable(exc: SettingsError) -> str:
    # pydantic-settings says `error parsing value for field "x" from source "..."`.
    text = str(exc)
    if 'field "' not in text:
        return text
    variable = "SMSDESK_" + text.split('field "', 1)[1].split('"', 1)[0].upper()
    return f'{variable}: not a value smsdesk can read (a list is JSON, e.g. ["2026-01-05"])'
