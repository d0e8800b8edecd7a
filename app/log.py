"""Structured logging (structlog) with dotted event names; phone numbers and bodies redacted."""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any

import structlog

_PHONE = re.compile(r"\+\d{6,15}")
_SECRET_KEYS = {"body", "text", "normalised_text", "evidence"}


def _redact(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Keep the last four digits of a number; never log what a customer wrote."""
    for key, value in list(event.items()):
        if key in _SECRET_KEYS and value is not None:
            event[key] = f"<{len(str(value))} chars>"
        elif isinstance(value, str):
            event[key] = _PHONE.sub(lambda m: "+…" + m.group()[-4:], value)
    return event


def configure(level: str = "INFO") -> None:
    """Set up structlog once per process."""
    logging.basicConfig(format="%(message)s", level=level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> Any:
    """A bound structlog logger."""
    return structlog.get_logger(name)
