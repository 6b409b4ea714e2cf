"""Turn a received Kafka record into the typed event, with nothing but pydantic.

Konsortio publishes CloudEvents 1.0 in Kafka binary content mode: the attributes travel in
``ce_*`` headers, the JSON payload is the record's value, the aggregate id is its key. A
consumer calls ``decode(record.headers, record.value)`` and gets a ``Received`` with the
CloudEvents id (the key for idempotent processing) and the payload as its pydantic model.

An event type this version of the package does not know raises ``UnknownEventVersion`` when
only its major version is new (the producer started publishing ``...v2``: upgrade the package,
or skip it knowingly) and ``UnknownEventType`` for a name it has never seen.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from contracts.base import CONTENT_TYPE, SPEC_VERSION, TYPE_PREFIX

if TYPE_CHECKING:
    from contracts.base import Event

Headers = Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]]
_TYPE = re.compile(
    rf"^{re.escape(TYPE_PREFIX)}\.(?P<name>[a-z0-9-]+\.[a-z0-9-]+)\.v(?P<major>\d+)$"
)


class DecodeError(ValueError):
    """The record is not a well-formed Konsortio event; retrying will not change that."""


class UnknownEventType(DecodeError):
    """A CloudEvents type this package has never heard of."""

    def __init__(self, ce_type: str) -> None:
        self.ce_type = ce_type
        super().__init__(f"unknown event type {ce_type!r}")


class UnknownEventVersion(UnknownEventType):
    """A known event at a major version this package does not have: a breaking change was
    published as a new version. Upgrade konsortio-contracts to read it."""

    def __init__(self, ce_type: str, known: list[int]) -> None:
        self.known_versions = known
        DecodeError.__init__(
            self,
            f"unknown major version of {ce_type!r}: this konsortio-contracts knows "
            f"{', '.join(f'v{v}' for v in known)}; upgrade it to read this version",
        )
        self.ce_type = ce_type


@dataclass(frozen=True)
class Received:
    """A decoded event with its CloudEvents attributes."""

    id: str
    type: str
    source: str
    time: dt.datetime | None
    correlation_id: str
    causation_id: str | None
    event: Event


def _text(value: str | bytes | None) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value


def decode(headers: Headers, value: bytes | str) -> Received:
    """Decode one record (headers as aiokafka/confluent give them, or a mapping)."""
    from contracts import EVENTS_BY_TYPE

    pairs = headers.items() if isinstance(headers, Mapping) else headers
    attrs = {name.lower(): _text(raw) for name, raw in pairs}
    missing = [h for h in ("ce_id", "ce_type", "ce_source", "ce_specversion") if not attrs.get(h)]
    if missing:
        raise DecodeError(f"missing CloudEvents header(s): {', '.join(missing)}")
    if attrs["ce_specversion"] != SPEC_VERSION:
        raise DecodeError(f"unsupported CloudEvents specversion {attrs['ce_specversion']!r}")
    content_type = (attrs.get("content-type") or CONTENT_TYPE).split(";")[0].strip()
    if content_type != CONTENT_TYPE:
        raise DecodeError(f"content-type must be {CONTENT_TYPE}, got {content_type!r}")
    ce_type = str(attrs["ce_type"])
    model = EVENTS_BY_TYPE.get(ce_type)
    if model is None:
        match = _TYPE.match(ce_type)
        if match:
            known = sorted(
                event.version
                for event in EVENTS_BY_TYPE.values()
                if f"{event.producer}.{event.name}" == match["name"]
            )
            if known:
                raise UnknownEventVersion(ce_type, known)
        raise UnknownEventType(ce_type)
    try:
        data = json.loads(value)
    except (ValueError, UnicodeDecodeError) as error:
        raise DecodeError(f"malformed JSON value: {error}") from error
    try:
        event = model.model_validate(data)
    except ValidationError as error:
        raise DecodeError(f"{ce_type} payload does not match its schema: {error}") from error
    time_text = attrs.get("ce_time")
    try:
        time = dt.datetime.fromisoformat(time_text) if time_text else None
    except ValueError as error:
        raise DecodeError(f"ce_time is not an RFC 3339 time: {time_text!r}") from error
    event_id = str(attrs["ce_id"])
    return Received(
        id=event_id,
        type=ce_type,
        source=str(attrs["ce_source"]),
        time=time,
        correlation_id=attrs.get("ce_correlationid") or event_id,
        causation_id=attrs.get("ce_causationid"),
        event=event,
    )
