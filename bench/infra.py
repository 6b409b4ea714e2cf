"""The benchmark's infrastructure: one embedded PostgreSQL and one Tansu broker for the whole run,
in a temporary directory, stopped at the end (``konsortio.stack`` is what ``konsortio up`` and the
tests use, so the figures are for the stack people actually run).

PostgreSQL runs with ``track_commit_timestamp = on``: the latency benchmark reads the commit time
of the command's outbox row and of the consumer's effect row from the same server clock, with
``pg_xact_commit_timestamp(xmin)``, so neither side needs instrumenting. The setting adds one
small write per commit; durability settings (fsync, synchronous_commit) stay at their defaults.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import asyncpg
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from bench.cpu import CpuMeter
from kit.settings import KafkaSettings
from konsortio.stack import EmbeddedBroker, EmbeddedPostgres, free_port


@dataclass
class ExternalBroker:
    """A broker this run did not start (``--kafka-bootstrap``), e.g. the Apache Kafka of
    ``deploy/kafka/lane.sh``; its pid, when known, puts its CPU in the figures."""

    bootstrap: str
    pid: int | None = None

    @property
    def process(self) -> psutil.Process | None:
        return psutil.Process(self.pid) if self.pid else None


@dataclass
class BenchInfra:
    root: Path
    postgres: EmbeddedPostgres
    broker: EmbeddedBroker | ExternalBroker

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    async def new_database(self, prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        await self.postgres.create_databases([name])
        return self.postgres.dsn(name)

    @staticmethod
    def database_of(dsn: str) -> str:
        return urlparse(dsn).path.lstrip("/")

    def kafka(self, partitions: int = 3) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=self.bootstrap, topic_partitions=partitions)

    def path(self, name: str) -> Path:
        return self.root / name

    def meter(self) -> CpuMeter:
        process = self.broker.process
        return CpuMeter(self.postgres.data_dir, process.pid if process else None)


async def _configure(postgres: EmbeddedPostgres) -> None:
    """Commit timestamps for the latency figures, pg_stat_statements for the profile of
    PostgreSQL's share; both need a server restart."""
    conn = await asyncpg.connect(postgres.dsn())
    try:
        await conn.execute("ALTER SYSTEM SET track_commit_timestamp = on")
        await conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    finally:
        await conn.close()
    postgres.restart()
    conn = await asyncpg.connect(postgres.dsn())
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    finally:
        await conn.close()


async def reset_statement_stats(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_stat_statements_reset()")
    finally:
        await conn.close()


async def top_statements(dsn: str, databases: list[str], events: int, limit: int = 8) -> list:
    """Where PostgreSQL spent its time since the last reset, per statement, in the given
    databases: total and per-event execution time."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """
            SELECT d.datname, s.calls, s.total_exec_time, s.rows,
                   regexp_replace(left(s.query, 160), '\\s+', ' ', 'g') AS query
            FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
            WHERE d.datname = ANY($1::text[])
            ORDER BY s.total_exec_time DESC LIMIT $2
            """,
            databases,
            limit,
        )
    finally:
        await conn.close()
    return [
        {
            "database": row["datname"].rsplit("_", 1)[0],
            "calls": row["calls"],
            "total_ms": round(row["total_exec_time"], 1),
            "us_per_event": round(row["total_exec_time"] * 1000 / max(events, 1), 1),
            "query": row["query"],
        }
        for row in rows
    ]


@contextlib.asynccontextmanager
async def bench_infra(
    keep: bool = False, external: ExternalBroker | None = None
) -> AsyncIterator[BenchInfra]:
    # Not a 0700 pytest-style directory chain: the embedded_postgres system user must reach it.
    root = Path(tempfile.mkdtemp(prefix="konsortio-bench-"))
    (root / "logs").mkdir()
    postgres = EmbeddedPostgres(root / "pg")
    embedded = None if external else EmbeddedBroker(free_port(), log_path=root / "broker.log")
    try:
        postgres.start()
        await _configure(postgres)
        if embedded:
            embedded.start()
        broker = external or embedded
        assert broker is not None  # one of the two exists: embedded is made when external is not
        yield BenchInfra(root=root, postgres=postgres, broker=broker)
    finally:
        if embedded:
            embedded.stop()
        postgres.stop()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if topic not in set(await admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def start_group_at_end(
    bootstrap: str, group: str, topic: str, offsets: dict[int, int] | None = None
) -> dict[int, int]:
    """Commit the topic's current end offsets for a new consumer group, so the group starts
    after everything earlier benchmarks published there (the contracts fix the topic name,
    and one broker serves the whole run). Returns the end offset per partition. ``offsets``
    (per partition), when given, are committed instead: several groups then start at one
    earlier end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        if not partitions:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - fresh topic
            partitions = [
                TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
            ]
        ends = await consumer.end_offsets(partitions)
        if offsets is not None:
            ends = {tp: offsets[tp.partition] for tp in partitions}
        consumer.assign(partitions)
        await consumer.commit({tp: offset for tp, offset in ends.items()})
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()
