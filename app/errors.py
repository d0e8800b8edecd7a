"""The one exception tree of smsdesk.

    SmsdeskError
    ├── InvalidInput            bad input from a caller: a clear message, never a crash
    │   ├── InvalidPhoneNumber  not parseable as an E.164 number
    │   ├── InvalidTimestamp    not an ISO-8601 instant, or one with no time zone
    │   ├── InvalidCaseFile     a compliance case file that cannot be read or is malformed
    │   ├── AgentError          an agent account that cannot be created or changed (handoff)
    │   └── InvalidContextFile  a customer-context CSV that cannot be imported (file:line)
    ├── LedgerError             the consent ledger could not be read or written
    │   └── AppendOnlyViolation an attempt to change or delete a consent event
    ├── ConfigurationError      settings or data files that cannot work together
    │   └── KnowledgeError      the knowledge base has problems (app.ai.knowledge; .problems)
    ├── LlmUnavailable          the LLM gave no usable answer after retries (app.ai.llm)
    ├── ContextUnavailable      the customer-context source is down or answered nonsense
    └── ProviderError           the SMS provider refused or failed a send (.retryable)
        └── RecipientOptedOut   the carrier has the recipient opted out (Twilio 21610)

Routes translate these into HTTP errors; data functions never raise HTTP errors themselves.
"""

from __future__ import annotations


class SmsdeskError(Exception):
    """Base of every error smsdesk raises on purpose."""

    code = "smsdesk_error"


class InvalidInput(SmsdeskError):
    """A caller gave input that smsdesk cannot act on."""

    code = "invalid_input"


class InvalidPhoneNumber(InvalidInput):
    """The text is not an E.164 phone number."""

    code = "invalid_phone_number"


class InvalidTimestamp(InvalidInput):
    """The text is not an ISO-8601 instant with a time zone."""

    code = "invalid_timestamp"


class InvalidCaseFile(InvalidInput):
    """A compliance case file is unreadable or a case in it is malformed."""

    code = "invalid_case_file"


class LedgerError(SmsdeskError):
    """The consent ledger could not be read or written."""

    code = "ledger_error"


class AppendOnlyViolation(LedgerError):
    """Something tried to update or delete a consent event."""

    code = "append_only_violation"


class ConfigurationError(SmsdeskError):
    """Settings or data files are inconsistent."""

    code = "configuration_error"


class ProviderError(SmsdeskError):
    """The SMS provider refused or failed a send."""

    code = "provider_error"

    def __init__(self, message: str, *, retryable: bool, provider_code: str | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        """Safe to try again: nothing was sent (429, 5xx, connection refused)."""
        self.provider_code = provider_code


class RecipientOptedOut(ProviderError):
    """The carrier or provider has the recipient opted out (Twilio 21610): never retry."""

    code = "recipient_opted_out"


class InvalidContextFile(InvalidInput):
    """A customer-context CSV is unreadable or a line in it is malformed (file:line)."""

    code = "invalid_context_file"


class ContextUnavailable(SmsdeskError):
    """The customer-context source (the business's system) is down, too slow, or answered
    something that is not the documented JSON: a person answers instead."""

    code = "context_unavailable"
