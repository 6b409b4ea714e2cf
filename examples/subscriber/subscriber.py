"""A worked subscriber: another team's service that records Konsortio's membership and
procurement events in SQLite, with nothing from Konsortio but konsortio-contracts.

- Its own consumer group (SUBSCRIBER_GROUP): it reads every event independently of
  Konsortio's own services and of any other subscriber.
- Idempotent: the CloudEvents id is the primary key, so a redelivered event (after a crash,
  a rebalance or a replay from the beginning) is counted, not stored twice.
- At least once: the offset is committed only after the row is committed; an error (say, a
  locked database) leaves the record to be delivered again.
- An event version it does not know (a new ``...v2``) or a record it cannot read is put
  aside in the ``skipped`` table with the reason, and consumption goes on.

Run: ``python subscriber.py`` (see README.md for the settings).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from pathlib import Path

from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from contracts import DecodeError, UnknownEventVersion, decode, topic_for

BOOTSTRAP = os.environ.get("KONSORTIO_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
GROUP = os.environ.get("SUBSCRIBER_GROUP", "example-subscriber")
# Where a group without committed offsets starts: "earliest" (every event still on the
# topic) or "latest" (only events published from now on). A group that has committed
# offsets always goes on from them.
START = os.environ.get("SUBSCRIBER_START", "earliest")
DATABASE = Path(os.environ.get("SUBSCRIBER_DATABASE", "subscriber.sqlite3"))
TOPICS = (topic_for("membership"), topic_for("procurement"))

log = logging.getLogger("subscriber")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,           -- the CloudEvents id: one row per event, however delivered
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    topic TEXT NOT NULL,
    key TEXT,
    time TEXT,
    payload TEXT NOT NULL,
    redeliveries INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS skipped (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    type TEXT,
    reason TEXT NOT NULL,
    PRIMARY KEY (topic, partition, "offset")
);
"""


def connect(path: Path = DATABASE) -> sqlite3.Connection:
    connection = sqlite3.connect(path)
    connection.executescript(SCHEMA)
    return connection


def record(connection: sqlite3.Connection, message: KafkaMessage) -> str:
    """Store one Kafka record; return what happened to it."""
    raw = message.raw_message
    headers = raw.headers or []
    try:
        received = decode(headers, raw.value or b"")
    except DecodeError as error:
        # UnknownEventVersion: a breaking change published as a new version. Upgrade
        # konsortio-contracts to read it; until then it is kept aside, not lost: replay the
        # topic from the beginning with a new group after upgrading.
        kind = "unknown-version" if isinstance(error, UnknownEventVersion) else "unreadable"
        ce_type = dict(headers).get("ce_type", b"")
        with connection:
            connection.execute(
                'INSERT OR IGNORE INTO skipped (topic, partition, "offset", type, reason) '
                "VALUES (?, ?, ?, ?, ?)",
                (
                    raw.topic,
                    raw.partition,
                    raw.offset,
                    ce_type.decode() if isinstance(ce_type, bytes) else ce_type,
                    f"{kind}: {error}",
                ),
            )
        log.warning("skipped %s[%s]@%s: %s", raw.topic, raw.partition, raw.offset, error)
        return kind
    key = raw.key.decode() if isinstance(raw.key, bytes) else raw.key
    with connection:
        cursor = connection.execute(
            "INSERT INTO events (id, type, source, topic, key, time, payload) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET redeliveries = redeliveries + 1 "
            "RETURNING redeliveries",
            (
                received.id,
                received.type,
                received.source,
                raw.topic,
                key,
                received.time.isoformat() if received.time else None,
                json.dumps(received.event.model_dump(mode="json")),
            ),
        )
        (redeliveries,) = cursor.fetchone()
    # React to the typed event here, e.g. isinstance(received.event, MemberJoined).
    return "duplicate" if redeliveries else "stored"


def build(database: Path = DATABASE, group: str = GROUP, start: str = START) -> FastStream:
    # graceful_timeout: on SIGTERM or Ctrl-C, the record in hand is finished and its offset
    # committed before the consumer leaves the group.
    broker = KafkaBroker(BOOTSTRAP, client_id=f"{group}-subscriber", graceful_timeout=15.0)
    connection = connect(database)

    async def raw_body(message: KafkaMessage) -> bytes:
        # The payload is decoded by konsortio-contracts, from the headers and the value.
        return message.body

    @broker.subscriber(
        *TOPICS,
        group_id=group,
        auto_offset_reset=start,
        # Commit after the handler has returned; an exception seeks back and retries.
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=raw_body,
    )
    async def on_record(message: KafkaMessage) -> None:
        outcome = record(connection, message)
        log.info("%s %s", outcome, message.raw_message.offset)

    app = FastStream(broker)

    @app.after_shutdown
    async def close() -> None:
        connection.close()

    return app


if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("SUBSCRIBER_LOG_LEVEL", "INFO"))
    asyncio.run(build().run())
