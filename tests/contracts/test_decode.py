"""contracts.decode reads exactly what Konsortio's producers write (kit.envelope.encode, the
outbox relay's encoder), and refuses what it cannot read with a clear reason."""

from __future__ import annotations

import json

import pytest

from contracts import (
    ALL_EVENTS,
    DecodeError,
    UnknownEventType,
    UnknownEventVersion,
    decode,
    resources,
)
from contracts.examples import EXAMPLES, EXAMPLES_BY_TYPE, example_record
from kit.envelope import encode


def test_every_event_type_has_an_example() -> None:
    assert sorted(EXAMPLES_BY_TYPE) == sorted(e.ce_type() for e in ALL_EVENTS)
    assert all(example.broken_rule() is None for example in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.ce_type())
def test_decodes_what_the_producers_encode(example) -> None:  # type: ignore[no-untyped-def]  # a test helper; pytest or the test gives its untyped parameters
    message = encode(example, source=f"/konsortio/{example.producer}", causation_id="cause-1")
    # aiokafka hands headers over as a list of (name, bytes) pairs.
    headers = [(name, value.encode()) for name, value in message.headers.items()]
    received = decode(headers, message.value)
    assert received.event == example
    assert type(received.event) is type(example)
    assert received.id == message.headers["ce_id"]
    assert received.type == example.ce_type()
    assert received.source == f"/konsortio/{example.producer}"
    assert received.correlation_id == message.headers["ce_id"]
    assert received.causation_id == "cause-1"
    assert received.time is not None and received.time.tzinfo is not None


def test_an_unknown_major_version_is_refused_with_the_versions_it_knows() -> None:
    headers, value = example_record(EXAMPLES[0])
    headers["ce_type"] = "fi.konsortio.membership.member-joined.v2"
    with pytest.raises(UnknownEventVersion, match="knows v1; upgrade") as caught:
        decode(headers, value)
    assert caught.value.known_versions == [1]
    assert isinstance(caught.value, UnknownEventType | DecodeError)


def test_an_unknown_type_and_malformed_records_are_refused() -> None:
    headers, value = example_record(EXAMPLES[0])
    with pytest.raises(UnknownEventType, match="unknown event type") as caught:
        decode({**headers, "ce_type": "fi.konsortio.membership.member-renamed.v1"}, value)
    assert not isinstance(caught.value, UnknownEventVersion)
    with pytest.raises(DecodeError, match="missing CloudEvents header"):
        decode({k: v for k, v in headers.items() if k != "ce_id"}, value)
    with pytest.raises(DecodeError, match="malformed JSON"):
        decode(headers, b"{not json")
    payload = json.loads(value)
    del payload["period"]
    with pytest.raises(DecodeError, match="does not match its schema"):
        decode(headers, json.dumps(payload).encode())
    with pytest.raises(DecodeError, match="specversion"):
        decode({**headers, "ce_specversion": "0.3"}, value)


def test_an_added_optional_field_is_read_by_an_older_consumer() -> None:
    headers, value = example_record(EXAMPLES[0])
    payload = {**json.loads(value), "a_field_added_later": "ignored"}
    assert decode(headers, json.dumps(payload).encode()).event == EXAMPLES[0]


def test_the_schemas_and_the_asyncapi_document_are_package_data() -> None:
    document = resources.asyncapi()
    assert document["asyncapi"].startswith("3.")
    assert sorted(resources.schema_names()) == sorted(e.ce_type() for e in ALL_EVENTS)
    for event in ALL_EVENTS:
        assert resources.schema(event.ce_type())["x-cloudevents-type"] == event.ce_type()
        message = document["components"]["messages"][f"{event.name}.v{event.version}"]
        assert message["examples"][0]["payload"] == json.loads(
            EXAMPLES_BY_TYPE[event.ce_type()].model_dump_json()
        )
    with pytest.raises(KeyError):
        resources.schema("fi.konsortio.membership.nothing.v1")
