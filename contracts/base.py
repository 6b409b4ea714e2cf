"""What every event has in common: an immutable fact with a name, a major version, a producer
and an aggregate key. The CloudEvents ``type`` is derived from these, never written by hand."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

# Reverse-DNS prefix of every CloudEvents type Konsortio publishes.
TYPE_PREFIX = "fi.konsortio"
SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"


def topic_for(producer: str) -> str:
    """One topic per producing service."""
    return f"konsortio.{producer}"


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


class Payload(BaseModel):
    """Nested value objects in payloads. Unknown fields are ignored so that a producer may
    add optional fields (a backward-compatible change) without breaking older consumers."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Event(Payload):
    name: ClassVar[str]
    version: ClassVar[int] = 1
    producer: ClassVar[str]
    key_field: ClassVar[str]

    @classmethod
    def ce_type(cls) -> str:
        return f"{TYPE_PREFIX}.{cls.producer}.{cls.name}.v{cls.version}"

    @classmethod
    def topic(cls) -> str:
        return topic_for(cls.producer)

    def key(self) -> str:
        """The aggregate id: all events of one aggregate share a partition, so stay in order."""
        value: object = self
        for part in self.key_field.split("."):
            value = getattr(value, part)
        return str(value)
