"""Export the contracts: one JSON Schema per event type and version, and an AsyncAPI 3.0
document of every topic, its messages, and the CloudEvents headers they carry.

The AsyncAPI document is generated from the contracts rather than from FastStream's
subscribers: our events are published by the outbox relay, not by decorated publishers, and
a topic carries several message types, which is exactly what the contracts already list.
Both outputs are committed; ``tests/contracts`` fails if they drift from the models or if a
change is not backward compatible.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contracts import ALL_EVENTS, PRODUCERS, __version__
from contracts.base import CONTENT_TYPE, Event, dead_letter_topic, topic_for
from contracts.examples import EXAMPLES_BY_TYPE, example_record

SCHEMA_DIR = Path(__file__).parent / "schemas"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_schema(event: type[Event]) -> dict[str, Any]:
    schema = event.model_json_schema(mode="serialization")
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"urn:konsortio:event:{event.ce_type()}",
        "x-cloudevents-type": event.ce_type(),
        "x-topic": event.topic(),
        "x-key": event.key_field,
        **schema,
    }


CLOUDEVENTS_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": ["ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time", "content-type"],
    "properties": {
        "ce_id": {"type": "string", "description": "Unique event id (inbox key)."},
        "ce_source": {"type": "string", "description": "/konsortio/<service>"},
        "ce_type": {"type": "string", "description": "fi.konsortio.<service>.<event>.v<major>"},
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_correlationid": {"type": "string", "description": "First event of the chain."},
        "ce_causationid": {"type": "string", "description": "Event that caused this one."},
        "content-type": {"type": "string", "const": CONTENT_TYPE},
    },
}


def asyncapi_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for producer in PRODUCERS:
        topic = topic_for(producer)
        events = [e for e in ALL_EVENTS if e.producer == producer]
        channel_messages = {}
        for event in events:
            message_id = f"{event.name}.v{event.version}"
            messages[message_id] = {
                "name": event.ce_type(),
                "title": event.name,
                "summary": (event.__doc__ or event.name).strip().splitlines()[0],
                "contentType": CONTENT_TYPE,
                "headers": CLOUDEVENTS_HEADERS,
                "payload": {"$ref": f"{event.ce_type()}.json"},
                "bindings": {"kafka": {"key": {"type": "string", "description": event.key_field}}},
            }
            # An event without an example is still exported (tests/contracts asks for one).
            example = EXAMPLES_BY_TYPE.get(event.ce_type())
            if example is not None:
                example_headers, example_value = example_record(example)
                messages[message_id]["examples"] = [
                    {
                        "name": example.name,
                        "summary": f"Kafka key {example.key()!r}",
                        "headers": example_headers,
                        "payload": json.loads(example_value),
                    }
                ]
            channel_messages[message_id] = {"$ref": f"#/components/messages/{message_id}"}
        channels[producer] = {
            "address": topic,
            "description": f"Events published by {producer}, keyed by aggregate id.",
            "messages": channel_messages,
        }
        channels[f"{producer}-dlq"] = {
            "address": dead_letter_topic(topic),
            "description": (
                "Messages from this topic that a consumer could not process, with headers "
                "dlq_original_topic, dlq_original_partition, dlq_original_offset, "
                "dlq_consumer_group, dlq_exception_class, dlq_exception_message, dlq_attempts."
            ),
        }
        if channel_messages:
            operations[f"publish-{producer}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{producer}"},
                "messages": [
                    {"$ref": f"#/channels/{producer}/messages/{m}"} for m in channel_messages
                ],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Konsortio events",
            "version": __version__,
            "description": (
                "CloudEvents 1.0 in Kafka binary content mode: attributes in ce_* headers, "
                "the JSON payload as the value, the aggregate id as the key."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render_all() -> dict[str, str]:
    """File name -> content, for every exported file."""
    files = {
        f"{event.ce_type()}.json": json.dumps(event_schema(event), indent=2, sort_keys=True) + "\n"
        for event in ALL_EVENTS
    }
    files["asyncapi.json"] = json.dumps(asyncapi_document(), indent=2) + "\n"
    return files


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in render_all().items():
        path = directory / name
        path.write_text(content)
        written.append(path)
    return written
