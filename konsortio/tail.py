"""``konsortio events tail``: the event stream as one line per CloudEvent.

It reads without a consumer group (partitions are assigned, not subscribed), so tailing never
moves any service's offsets and starts at once instead of waiting for a group join. It starts
at the true end of each partition (``kit.streams``: Tansu reports the last batch's start
instead, which made every start re-print the last events). ``--from-beginning`` reads the
history up to those ends first and prints it in time order, merged across topics and
partitions, then goes on with the live stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable

from aiokafka import ConsumerRecord
from rich.console import Console

from contracts import ALL_EVENTS, TOPICS
from kit import streams
from kit.envelope import PoisonMessage, decode
from kit.settings import KafkaSettings


def known_event_names() -> list[str]:
    """Every event name the contracts define (what ``--type`` accepts)."""
    return sorted({event.name for event in ALL_EVENTS})


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


def in_time_order(records: Iterable[ConsumerRecord]) -> list[ConsumerRecord]:
    """Records of several partitions merged by their timestamp; within a partition the offset
    order stays (equal timestamps keep it too)."""
    return sorted(records, key=lambda r: (r.timestamp, r.topic, r.partition, r.offset))


class Printer:
    def __init__(self, console: Console, event_name: str | None, limit: int | None) -> None:
        self.console = console
        self.event_name = event_name
        self.limit = limit
        self.printed = 0

    @property
    def done(self) -> bool:
        return self.limit is not None and self.printed >= self.limit

    def show(self, records: Iterable[ConsumerRecord]) -> None:
        for record in records:
            if self.done:
                return
            try:
                envelope = decode(dict(record.headers), record.key, record.value)
            except PoisonMessage as error:
                self.console.print(f"[red]{record.topic}@{record.offset} unreadable: {error}")
                continue
            name = envelope.type.split(".")[-2]
            if self.event_name and name != self.event_name:
                continue
            time = envelope.time.isoformat(timespec="seconds") if envelope.time else "-"
            self.console.print(
                f"{time} [bold]{envelope.type}[/bold] key={envelope.key} "
                f"id={envelope.id} {summarise(envelope.data)}"
            )
            self.printed += 1


async def tail(
    kafka: KafkaSettings,
    *,
    event_name: str | None = None,
    from_beginning: bool = False,
    limit: int | None = None,
    console: Console | None = None,
    idle_exit_s: float | None = None,
) -> int:
    """Print events; returns how many were printed. ``idle_exit_s`` stops after that long
    without a new record (for scripts and tests; default: run until the limit or Ctrl-C)."""
    printer = Printer(console or Console(highlight=False, soft_wrap=True), event_name, limit)
    admin = streams.admin_client(kafka, "konsortio-tail")
    consumer = streams.groupless_consumer(kafka, "konsortio-tail")
    await admin.start()
    try:
        partitions = await streams.existing_partitions(admin, TOPICS)
        await consumer.start()
        ends = await consumer.end_offsets(partitions) if partitions else {}
        if from_beginning:
            history = await streams.read_range(consumer, dict.fromkeys(partitions), ends)
            printer.show(in_time_order(history))
        if not partitions or printer.done:
            return printer.printed
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, ends[tp])
        loop = asyncio.get_running_loop()
        last_seen = loop.time()
        while not printer.done:
            batch = await consumer.getmany(timeout_ms=500)
            records = [r for got in batch.values() for r in got]
            if records:
                last_seen = loop.time()
                printer.show(in_time_order(records))
            elif idle_exit_s is not None and loop.time() - last_seen > idle_exit_s:
                break
    except asyncio.CancelledError:
        pass
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        await admin.close()
    return printer.printed
