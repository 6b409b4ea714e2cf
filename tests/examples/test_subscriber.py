"""The worked subscriber in examples/subscriber, run as another team would run it: in a
virtual environment of its own with only konsortio-contracts (the wheel built here) and
FastStream, as a separate process against the real broker. A real membership service
produces member-joined events through its outbox; procurement events are published as its
relay would. The subscriber must store every one exactly once: across a graceful restart of
its group, and when a second group replays the topics from the beginning into the same
database. A major version it does not know is put aside, and it carries on."""

from __future__ import annotations

import importlib.metadata
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from contracts.examples import EXAMPLES_BY_TYPE, example_record
from services.membership.app import build as build_membership
from tests.conftest import Infra, running, wait_for
from tests.contracts.test_package import _uv
from tests.integration.conftest import Service, library_body, register_and_join, unique_isil
from tests.integration.dashboard.support import publish

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "subscriber"


@pytest.fixture(scope="module")
def subscriber_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean environment: the konsortio-contracts wheel and FastStream, nothing else of
    Konsortio (versions as locked here, so they come from uv's cache)."""
    work = tmp_path_factory.mktemp("subscriber-env")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["UV_PYTHON"] = sys.executable
    subprocess.run(
        [_uv(), "build", "--package", "konsortio-contracts", "--wheel", "--out-dir", str(work)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    (wheel,) = work.glob("konsortio_contracts-*.whl")
    venv.EnvBuilder(with_pip=False).create(work / "venv")
    python = work / "venv" / "bin" / "python"
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in ("faststream", "aiokafka")]
    pins[0] = pins[0].replace("faststream==", "faststream[kafka]==")
    subprocess.run(
        [_uv(), "pip", "install", "--python", str(python), str(wheel), *pins],
        env=env,
        check=True,
        capture_output=True,
    )
    found = subprocess.run(
        [str(python), "-I", "-c", "import importlib.util as u; print(u.find_spec('kit'))"],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == "None", "the subscriber's environment must not have kit"
    return python


class Subscriber:
    def __init__(self, python: Path, infra: Infra, database: Path, log: Path) -> None:
        self.python, self.infra, self.database, self.log = python, infra, database, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, group: str, start: str = "earliest") -> None:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "KONSORTIO_KAFKA_BOOTSTRAP_SERVERS": self.infra.bootstrap,
            "SUBSCRIBER_GROUP": group,
            "SUBSCRIBER_START": start,
            "SUBSCRIBER_DATABASE": str(self.database),
        }
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.python), str(EXAMPLE / "subscriber.py")],
                cwd=self.database.parent,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=60) is not None
        self.process = None

    def rows(self, ids: set[str]) -> dict[str, int]:
        """event id -> redeliveries, for the given ids that are stored."""
        if not self.database.exists():
            return {}
        with sqlite3.connect(self.database) as connection:
            found = connection.execute("SELECT id, redeliveries FROM events").fetchall()
        return {event_id: count for event_id, count in found if event_id in ids}

    def skipped(self) -> list[tuple[str, str]]:
        with sqlite3.connect(self.database) as connection:
            return connection.execute("SELECT type, reason FROM skipped").fetchall()

    def alive(self) -> None:
        assert self.process is not None and self.process.poll() is None, self.log.read_text()


@pytest.fixture
def subscriber(subscriber_python: Path, infra: Infra, tmp_path: Path) -> Iterator[Subscriber]:
    running_subscriber = Subscriber(
        subscriber_python, infra, tmp_path / "seen.sqlite3", tmp_path / "subscriber.log"
    )
    try:
        yield running_subscriber
    finally:
        if running_subscriber.process is not None:
            running_subscriber.process.kill()
            running_subscriber.process.wait(timeout=30)


async def _join(membership: Service, infra: Infra) -> None:
    await register_and_join(membership, infra, library_body(unique_isil("FI-Sub")))


async def _membership_event_ids(membership: Service) -> set[str]:
    rows = await membership.pool.fetch(
        "SELECT event_id::text FROM outbox WHERE topic = $1 AND sent_at IS NOT NULL",
        "konsortio.membership",
    )
    return {row["event_id"] for row in rows}


async def _publish_unknown_version(infra: Infra) -> None:
    headers, value = example_record(
        EXAMPLES_BY_TYPE["fi.konsortio.procurement.need-proposed.v1"], str(uuid.uuid4())
    )
    headers["ce_type"] = "fi.konsortio.procurement.need-proposed.v9"
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            "konsortio.procurement",
            value,
            key=b"need-2026-001",
            headers=[(name, text.encode()) for name, text in headers.items()],
        )
    finally:
        await producer.stop()


async def test_the_subscriber_sees_every_event_exactly_once(
    infra: Infra, subscriber: Subscriber
) -> None:
    dsn = await infra.new_database("subscriber_membership")
    app = build_membership(infra.settings("membership", dsn))
    async with running(app) as client:
        membership = Service(app, client, dsn)
        await wait_for(lambda: app.state.runtime.kafka_ready)
        procurement = [
            e for t, e in EXAMPLES_BY_TYPE.items() if t.startswith("fi.konsortio.procurement.")
        ]

        # 1. Two libraries join; procurement publishes; a v9 it cannot know arrives.
        group = "example-subscriber-" + uuid.uuid4().hex[:6]
        subscriber.start(group)
        for _ in range(2):
            await _join(membership, infra)
        expected = set(await publish(infra, procurement[:4], source="/konsortio/procurement"))
        await _publish_unknown_version(infra)

        async def all_stored() -> bool:
            subscriber.alive()
            wanted = expected | await _membership_event_ids(membership)
            return len(wanted) >= len(expected) + 2 and set(subscriber.rows(wanted)) == wanted

        await wait_for(all_stored, timeout_s=90)

        # 2. Stopped; events go on; the same group resumes where it left off.
        subscriber.stop()
        await _join(membership, infra)
        expected |= set(await publish(infra, procurement[4:], source="/konsortio/procurement"))
        subscriber.start(group)
        await wait_for(all_stored, timeout_s=90)
        wanted = expected | await _membership_event_ids(membership)
        stored = subscriber.rows(wanted)
        assert set(stored) == wanted
        assert all(count == 0 for count in stored.values()), f"redelivered: {stored}"

        # 3. A second group replays both topics from the beginning into the same database:
        # every event arrives again and is counted, never stored twice.
        subscriber.stop()
        subscriber.start("example-subscriber-replay-" + uuid.uuid4().hex[:6], start="earliest")

        async def all_redelivered() -> bool:
            subscriber.alive()
            counts = subscriber.rows(wanted)
            return set(counts) == wanted and all(c >= 1 for c in counts.values())

        await wait_for(all_redelivered, timeout_s=90)
        subscriber.stop()

    with sqlite3.connect(subscriber.database) as connection:
        (rows,) = connection.execute("SELECT count(*) FROM events").fetchone()
        (distinct,) = connection.execute("SELECT count(DISTINCT id) FROM events").fetchone()
    assert rows == distinct
    unknown = [r for r in subscriber.skipped() if r[0].endswith("need-proposed.v9")]
    assert len(unknown) >= 1 and all("unknown-version" in reason for _, reason in unknown)
    assert "upgrade" in unknown[0][1]
