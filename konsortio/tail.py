"""``konsortio events tail``: the event stream as one line per CloudEvent.

It reads without a consumer group (partitions are assigned, not subscribed), so tailing never
moves any service's offsets and starts at once instead of waiting for a group join."""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console

from contracts import TOPICS
from kit.envelope import PoisonMessage, decode

console = Console(highlight=False, soft_wrap=True)


def summarise(data: dict[str, object]) -> str:
    """A short human summary: the first identifying fields of the payload."""
    library = data.get("library")
    if isinstance(library, dict):
        names = library.get("names") or {}
        return f"{library.get('isil')} {names.get('fi', '') if isinstance(names, dict) else ''}"
    for key in ("title", "name", "agreement_id", "tender_id", "collection_id", "isil"):
        if key in data:
            return f"{key}={data[key]}"
    return json.dumps(data, ensure_ascii=False)[:80]


async def tail(
    bootstrap: str,
    *,
    event_name: str | None = None,
    from_beginning: bool = False,
    limit: int | None = None,
) -> int:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap.split(","), enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    printed = 0
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in TOPICS
            for p in (consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))
        ]
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        while limit is None or printed < limit:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    try:
                        envelope = decode(dict(record.headers), record.key, record.value)
                    except PoisonMessage as error:
                        console.print(f"[red]{record.topic}@{record.offset} unreadable: {error}")
                        continue
                    name = envelope.type.split(".")[-2]
                    if event_name and name != event_name:
                        continue
                    time = envelope.time.isoformat(timespec="seconds") if envelope.time else "-"
                    console.print(
                        f"{time} [bold]{envelope.type}[/bold] key={envelope.key} "
                        f"id={envelope.id} {summarise(envelope.data)}"
                    )
                    printed += 1
                    if limit is not None and printed >= limit:
                        return printed
    except asyncio.CancelledError:
        pass
    finally:
        await consumer.stop()
    return printed


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 - no public refresh call
    return consumer.partitions_for_topic(topic) or set()
