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


class BrokenRule(ValueError):
    """A schema-valid event whose content breaks a rule of the domain it describes: its
    producer should never have published it, and no retry can repair it. Consumers
    dead-letter it at once, with the rule in the reason."""


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

    def broken_rule(self) -> str | None:
        """The domain rule this event breaks, if any (an invariant across fields that a JSON
        Schema cannot say). Every consumer checks it before reacting, so no service applies an
        impossible fact; events with such a rule override this."""
        return None

    def key(self) -> str:
        """The aggregate id: all events of one aggregate share a partition, so stay in order."""
        value: object = self
        for part in self.key_field.split("."):
            value = getattr(value, part)
        return str(value)
