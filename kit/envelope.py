"""CloudEvents 1.0 in Kafka binary content mode, through the ``cloudevents`` Kafka binding.

Correlation and causation ids travel as the CloudEvents extension attributes
``correlationid`` and ``causationid`` (headers ``ce_correlationid``, ``ce_causationid``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from dateutil.parser import isoparse

from contracts.base import CONTENT_TYPE, SPEC_VERSION, Event

REQUIRED_HEADERS = ("ce_id", "ce_source", "ce_type", "ce_specversion")
_FORMAT = JSONFormat()
# The RFC 3339 form the binding writes (``2026-11-25T12:34:36.751723Z``). For it the standard
# library's parser gives the same instant as the binding's dateutil ``isoparse``, about twenty
# times faster; any other form still goes through ``isoparse``.
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)")


class PoisonMessage(Exception):
    """A message that can never be processed, whatever the number of attempts."""


@dataclass(frozen=True)
class Envelope:
    """A received CloudEvent, with where it came from."""

    id: str
    type: str
    source: str
    time: dt.datetime | None
    key: str | None
    correlation_id: str
    causation_id: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class OutgoingMessage:
    topic: str
    key: str
    headers: dict[str, str]
    value: bytes


def source_of(producer: str) -> str:
    """The CloudEvents ``source`` of every event a service publishes."""
    return f"/konsortio/{producer}"


def encode(
    event: Event,
    *,
    source: str,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    event_id: str | None = None,
    time: dt.datetime | None = None,
) -> OutgoingMessage:
    event_id = event_id or str(uuid.uuid4())
    attributes: dict[str, Any] = {
        "id": event_id,
        "source": source,
        "type": event.ce_type(),
        "time": time or dt.datetime.now(dt.UTC),
        "datacontenttype": CONTENT_TYPE,
        "partitionkey": event.key(),
        # A chain of reactions starts with its first event's id as its correlation id.
        "correlationid": correlation_id or event_id,
    }
    if causation_id:
        attributes["causationid"] = causation_id
    message = ce_kafka.to_binary(
        CloudEvent(attributes=attributes, data=event.model_dump(mode="json")), _FORMAT
    )
    headers = {name: value.decode() for name, value in message.headers.items()}
    # The key already travels as the Kafka key; a duplicate header would only drift.
    headers.pop("ce_partitionkey", None)
    return OutgoingMessage(
        topic=event.topic(), key=event.key(), headers=headers, value=message.value
    )


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def decode(headers: Mapping[str, str | bytes], key: bytes | str | None, value: bytes) -> Envelope:
    """Parse and check a received message; raise PoisonMessage with the reason when it is not
    a well-formed Konsortio CloudEvent. The binding itself is lenient (it invents a missing id
    and passes malformed JSON through as text), so the checks here are strict."""
    normalised = {name.lower(): _as_bytes(v) for name, v in headers.items()}
    missing = [name for name in REQUIRED_HEADERS if not normalised.get(name)]
    if missing:
        raise PoisonMessage(f"missing CloudEvents header(s): {', '.join(missing)}")
    if normalised["ce_specversion"].decode() != SPEC_VERSION:
        raise PoisonMessage(f"unsupported CloudEvents specversion {normalised['ce_specversion']!r}")
    content_type = normalised.get("content-type", b"").decode()
    if content_type.split(";")[0].strip() != CONTENT_TYPE:
        raise PoisonMessage(f"content-type must be {CONTENT_TYPE}, got {content_type!r}")
    try:
        data = json.loads(value)
    except (ValueError, UnicodeDecodeError) as error:
        raise PoisonMessage(f"malformed JSON value: {error}") from error
    if not isinstance(data, dict):
        raise PoisonMessage("the JSON value must be an object")
    # The binding maps the headers to attributes and validates them (CloudEvent). The value is
    # parsed once, above: the binding gets an empty one, so it does not parse the JSON again,
    # and the time header is parsed here (the same instant isoparse gives, faster) and handed
    # to the same CloudEvent validation as the binding's own parse would be.
    time_header = normalised.pop("ce_time", None)
    try:
        event = ce_kafka.from_binary(
            ce_kafka.KafkaMessage(headers=normalised, key=key, value=b""),
            _FORMAT,
            _event_factory(None if time_header is None else _parse_time(time_header.decode())),
        )
    except Exception as error:  # the binding raises several types for bad attributes
        raise PoisonMessage(f"invalid CloudEvent: {error}") from error
    attributes = event.get_attributes()
    return Envelope(
        id=attributes["id"],
        type=attributes["type"],
        source=attributes["source"],
        time=attributes.get("time"),
        key=attributes.get("partitionkey"),
        correlation_id=attributes.get("correlationid") or attributes["id"],
        causation_id=attributes.get("causationid"),
        data=data,
    )


def _parse_time(text: str) -> dt.datetime:
    if _RFC3339.fullmatch(text):
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            pass  # e.g. 24:00, which isoparse reads as the next midnight
    return isoparse(text)


def _event_factory(time: dt.datetime | None) -> Any:
    """CloudEvent (the specversion is checked to be 1.0 already), with the parsed time."""

    def factory(attributes: dict[str, Any], data: Any) -> CloudEvent:
        if time is not None:
            attributes["time"] = time
        return CloudEvent(attributes, data)

    return factory
