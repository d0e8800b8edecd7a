"""An LLM behind any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

Used only when `SMSDESK_LLM_BASE_URL` is set, and never depended on: a timeout, a rate limit, a
server error or an answer that is not the JSON asked for is retried with tenacity (exponential
backoff with jitter), then `LlmUnavailable` is raised and the caller falls back to the local
models. Prompts live in `prompts/*.md`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import openai
from pydantic import BaseModel, Field, ValidationError
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from app import log
from app.config import Settings
from app.errors import ConfigurationError, SmsdeskError

NO_ANSWER = "NO_ANSWER"
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_logger = log.get_logger("ai.llm")
T = TypeVar("T")


class LlmUnavailable(SmsdeskError):
    """The LLM did not give a usable answer after its retries: use the local models."""

    code = "llm_unavailable"


class InvalidLlmOutput(Exception):
    """The LLM answered, but not in the form asked for (retried like a server error)."""


@dataclass
class LlmUsage:
    """What the LLM cost for one text: calls, tokens, time and an estimate in US dollars."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    cost_usd: float = 0.0

    def as_record(self) -> dict[str, float | int]:
        """The usage as the decision record stores it."""
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "latency_ms": round(self.latency_ms, 1),
            "cost_usd": round(self.cost_usd, 6),
        }


_usage: ContextVar[LlmUsage | None] = ContextVar("llm_usage", default=None)


@contextmanager
def metered() -> Iterator[LlmUsage]:
    """Count every LLM call made inside the block (per thread: each worker meters its text)."""
    usage = LlmUsage()
    token = _usage.set(usage)
    try:
        yield usage
    finally:
        _usage.reset(token)


class LlmClassification(BaseModel):
    """The structured answer of the classification prompt."""

    intent: str = Field(min_length=1, max_length=64)
    confidence: float = Field(ge=0.0, le=1.0)
    needs_human: bool
    revocation_intent: bool
    language: str = Field(min_length=2, max_length=8)


_RETRYABLE = (
    openai.APITimeoutError,
    openai.APIConnectionError,
    openai.RateLimitError,
    openai.InternalServerError,
    InvalidLlmOutput,
)


@cache
def load_prompt(directory: Path, name: str) -> str:
    """The text of `<directory>/<name>.md` (SMSDESK_PROMPTS_DIR)."""
    path = directory / f"{name}.md"
    try:
        return path.read_text("utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the prompt {path}: {exc.strerror}") from exc


class LlmClient:
    """Classifies texts and drafts replies through an OpenAI-compatible chat endpoint."""

    def __init__(self, settings: Settings, *, wait_max: float = 4.0) -> None:
        if not settings.llm_base_url:
            raise LlmUnavailable("no LLM is configured (SMSDESK_LLM_BASE_URL)")
        from langchain_openai import ChatOpenAI

        self.prompts = settings.prompts_dir
        self.model = settings.llm_model
        self.brand = settings.brand_name
        self.max_chars = settings.max_reply_chars
        self.price_input = settings.llm_price_input_per_mtok
        self.price_output = settings.llm_price_output_per_mtok
        self._chat = ChatOpenAI(
            model=settings.llm_model,
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key.get_secret_value() or "none",
            timeout=settings.llm_timeout_seconds,
            max_retries=0,  # tenacity decides, below: one policy, logged
            temperature=0.0,
        )
        self._retrying = Retrying(
            stop=stop_after_attempt(settings.llm_max_retries + 1),
            wait=wait_random_exponential(multiplier=0.25, max=wait_max),
            retry=retry_if_exception_type(_RETRYABLE),
            before_sleep=lambda state: _logger.warning(
                "llm.retry",
                attempt=state.attempt_number,
                error=repr(state.outcome.exception()) if state.outcome else None,
            ),
        )

    def classify(
        self, text: str, *, intents: str, examples: Sequence[tuple[str, str]]
    ) -> LlmClassification:
        """The intent, confidence and flags of one text (raises `LlmUnavailable`)."""
        system = load_prompt(self.prompts, "classify").format(
            brand=self.brand,
            intents=intents,
            examples="\n".join(f"- {t!r} -> {i}" for t, i in examples) or "(none)",
        )

        def ask() -> LlmClassification:
            content = self._complete(system, text)
            match = _JSON_OBJECT.search(content)
            if match is None:
                raise InvalidLlmOutput(f"no JSON object in {content[:200]!r}")
            try:
                return LlmClassification.model_validate(json.loads(match.group()))
            except (ValueError, ValidationError) as exc:
                raise InvalidLlmOutput(str(exc)[:300]) from exc

        return self._run(ask)

    def draft(self, text: str, *, knowledge: str, history: Sequence[tuple[str, str]]) -> str | None:
        """A reply grounded in `knowledge`, or None when the LLM finds no answer there."""
        system = load_prompt(self.prompts, "reply").format(
            brand=self.brand, max_chars=self.max_chars, knowledge=knowledge
        )
        turns = "\n".join(f"{who}: {body}" for who, body in history)
        user = f"Earlier turns:\n{turns}\n\nCustomer's last message: {text}" if turns else text

        def ask() -> str | None:
            content = " ".join(self._complete(system, user).split())
            if not content:
                raise InvalidLlmOutput("an empty reply")
            return None if NO_ANSWER in content else content

        return self._run(ask)

    def _complete(self, system: str, user: str) -> str:
        started = time.perf_counter()
        message = self._chat.invoke([("system", system), ("human", user)])
        self._meter(message, time.perf_counter() - started)
        content: Any = message.content
        if not isinstance(content, str):
            raise InvalidLlmOutput(f"content of type {type(content).__name__}")
        return content

    def _meter(self, message: Any, seconds: float) -> None:
        usage = _usage.get()
        if usage is None:
            return
        tokens = getattr(message, "usage_metadata", None) or {}
        prompt, completion = int(tokens.get("input_tokens", 0)), int(tokens.get("output_tokens", 0))
        usage.calls += 1
        usage.prompt_tokens += prompt
        usage.completion_tokens += completion
        usage.latency_ms += seconds * 1000
        usage.cost_usd += (prompt * self.price_input + completion * self.price_output) / 1e6

    def _run(self, ask: Callable[[], T]) -> T:
        try:
            result: T = self._retrying(ask)
        except RetryError as exc:
            raise LlmUnavailable(f"the LLM failed: {exc.last_attempt.exception()!r}") from exc
        except (openai.APIError, InvalidLlmOutput) as exc:  # not worth retrying (e.g. 401)
            raise LlmUnavailable(f"the LLM failed: {exc!r}") from exc
        return result
