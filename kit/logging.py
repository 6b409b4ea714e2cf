"""structlog JSON logging with correlation and causation ids, and no personal data.

Correlation and causation ids live in contextvars, so every log line written while a
command or an event is handled carries them without being passed around.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

# Keys whose values are personal data or secrets. They are masked wherever they appear in
# a log event, however deeply nested, so a careless `log.info(..., library=payload)` cannot
# leak a contact's email address or a bearer token.
SENSITIVE_KEYS = frozenset(
    {
        "email",
        "emails",
        "phone",
        "contact",
        "contacts",
        "contact_name",
        "recipient",
        "recipients",
        "to",
        "authorization",
        "token",
        "password",
        "sasl_password",
        "smtp_password",
        "signatory",
    }
)
# Parts of a key name that mark it sensitive wherever they appear (``contact_email``,
# ``recipient_email``, ``smtp_password``, ``client_secret``).
SENSITIVE_KEY_PARTS = ("email", "password", "secret", "bearer")
REDACTED = "[redacted]"
EMAIL_MASK = "[email]"
TOKEN_MASK = "[token]"

# Text is cut into words at characters that never occur inside an address or a JWT; each word
# is then judged on its own. Splitting is one linear pass and each word is looked at a bounded
# number of times, so a pathological line (thousands of letters without an ``@``) cannot make
# the masking quadratic the way a backtracking ``[^@]+@...`` search does.
_SEPARATORS = re.compile(r"([\s'\"<>(),;:=&?\[\]{}|\\]+)")


def _is_email(word: str) -> bool:
    at = word.rfind("@")
    return 0 < at < len(word) - 1 and "." in word[at + 1 :].strip(".")


def _is_jwt(word: str) -> bool:
    # A compact JWS: base64url header (always starts ``eyJ``, i.e. ``{"``), payload, signature.
    start = word.find("eyJ")
    return start >= 0 and word.count(".", start) >= 2


def mask_text(text: str) -> str:
    """``text`` with every e-mail address and bearer token (JWT shape) masked, in linear time."""
    if "@" not in text and "eyJ" not in text:
        return text
    parts = _SEPARATORS.split(text)
    for index in range(0, len(parts), 2):
        word = parts[index]
        if _is_jwt(word):
            parts[index] = TOKEN_MASK
        elif _is_email(word):
            parts[index] = EMAIL_MASK
    return "".join(parts)


def _sensitive(key: Any) -> bool:
    name = str(key).lower()
    return name in SENSITIVE_KEYS or any(part in name for part in SENSITIVE_KEY_PARTS)


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            key: (REDACTED if _sensitive(key) else _redact(item)) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def redact_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask personal data and secrets before rendering."""
    redacted: MutableMapping[str, Any] = _redact(event_dict)
    return redacted


def configure_logging(service: str, level: str = "INFO") -> None:
    """JSON lines on stdout, one per event, with the service name and the bound ids."""
    logging.basicConfig(format="%(message)s", stream=sys.stdout, level=level, force=True)
    # aiokafka and FastStream log through stdlib logging; route them through the same
    # renderer so the output is one JSON stream, and keep their chatter at WARNING.
    for noisy in ("aiokafka", "faststream", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_personal_data,
    ]
    structlog.configure(
        processors=[
            *shared,
            # Without the frames' local variables: they hold request bodies (contacts'
            # addresses) and the caller's bearer token (found by the reliability suite).
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(),
        ],
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
    )
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setFormatter(formatter)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger


def bind_trace(correlation_id: str | None, causation_id: str | None) -> None:
    """Bind the ids of the message being handled to every following log line."""
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id, causation_id=causation_id)


def current_trace() -> tuple[str | None, str | None]:
    context = structlog.contextvars.get_contextvars()
    return context.get("correlation_id"), context.get("causation_id")
