"""deploy/compose.yaml brought up for real with podman-compose, after the single containers of
test_containers.py are gone (same databases and consumer groups: a redeployment).

No registry serves the apache/kafka and postgres images here and containers get only the host's
network, so deploy/containers/compose.lane.yaml substitutes the lane's Apache Kafka and the
harness's TLS PostgreSQL for compose's kafka and postgres (see that file). The rest is the
documented compose file as an operator runs it: deploy/.env from .env.example with real
secrets, the JWT key in deploy/secrets/.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kit.auth import Role, issue_token
from konsortio.stack import read_sink
from tests.conftest import wait_for
from tests.containers.conftest import (
    APP_UID,
    DEPLOY,
    PREFIX,
    ROOT,
    SERVICES,
    Deployment,
    free_port,
    podman,
)

pytestmark = pytest.mark.timeout(600)
PROJECT = "konsortio-ct"
PODMAN_COMPOSE = ROOT / ".cache" / "containers" / "podman-compose" / "bin" / "podman-compose"


class Compose:
    def __init__(self, directory: Path, env: dict[str, str], ports: dict[str, int]) -> None:
        self.directory = directory
        self.env = env
        self.ports = ports

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        command = [str(PODMAN_COMPOSE), "-p", PROJECT, "-f", "compose.yaml",
                   "-f", "containers/compose.lane.yaml", *args]  # fmt: skip
        return subprocess.run(
            command, cwd=self.directory, env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"


def _secret_file(path: Path, text: str) -> None:
    path.write_text(text)
    os.chown(path, APP_UID, APP_UID)
    path.chmod(0o400)


@pytest.fixture(scope="module")
def compose(deployment: Deployment) -> Iterator[Compose]:
    if not PODMAN_COMPOSE.exists():
        pytest.fail("podman-compose is missing: deploy/containers/build.sh installs it")
    for name in list(deployment.containers):  # the single containers leave; compose takes over
        deployment.keep_logs()
        podman("rm", "--force", "--time", "30", name)
        del deployment.containers[name]
    directory = deployment.work / "compose"
    shutil.copytree(DEPLOY, directory, ignore=shutil.ignore_patterns("k8s", "kafka"))
    directory.chmod(0o755)
    pg = deployment.postgres
    # deploy/.env as an operator fills it in from the example.
    values = {
        "KONSORTIO_IMAGE": deployment.image,
        "POSTGRES_PASSWORD": "unused-here",
        **{f"KONSORTIO_DB_PASSWORD_{s.upper()}": pg.passwords[s] for s in SERVICES},
        "KONSORTIO_SMTP_HOST": "127.0.0.1",
        "KONSORTIO_SMTP_PORT": str(deployment.sink.port),
        "KONSORTIO_SMTP_STARTTLS": "false",
        # The local SMTP server takes mail without logging in.
        "KONSORTIO_SMTP_USERNAME": "",
        "KONSORTIO_SMTP_PASSWORD": "",
        "KONSORTIO_SMTP_SENDER": "Konsortio <noreply@konsortio.test>",
    }
    lines = []
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={values[key]}" if key in values and "=" in line else line)
    (directory / ".env").write_text("\n".join(lines) + "\n")
    (directory / "secrets").mkdir(exist_ok=True)
    _secret_file(
        directory / "secrets" / "jwt_public.pem",
        (deployment.work / "secrets" / "jwt_public.pem").read_text(),
    )
    _secret_file(directory / "secrets" / "postgres-ca.pem", pg.ca_file.read_text())
    # usage's SUSHI provider keys: a directory, empty since the stand-in needs no key.
    (directory / "secrets" / "usage-providers").mkdir()
    os.chown(directory / "secrets" / "usage-providers", APP_UID, APP_UID)
    ports = {s: free_port() for s in SERVICES}
    env = {
        **os.environ,
        "CONTAINERS_CONF": str(DEPLOY / "containers" / "containers.conf"),
        "LANE_KAFKA_BOOTSTRAP": deployment.bootstrap,
        "LANE_POSTGRES_PORT": str(pg.port),
        "LANE_KITS_DIR": str(deployment.work / "kits"),
        "LANE_SERVICE_URLS": ",".join(f"{s}=http://127.0.0.1:{p}" for s, p in ports.items()),
        **{f"LANE_PORT_{s.upper()}": str(p) for s, p in ports.items()},
    }
    project = Compose(directory, env, ports)
    try:
        yield project
    finally:
        logs = project("logs", timeout=120)
        artifacts = ROOT / "test-artifacts" / "containers"
        artifacts.mkdir(parents=True, exist_ok=True)
        (artifacts / "compose.log").write_text(logs.stdout + logs.stderr)
        project("down", "--volumes", "--timeout", "30", timeout=300)


def test_compose_brings_every_service_up_hardened(compose: Compose) -> None:
    up = compose("up", "-d")
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]

    def all_ready() -> bool:
        for service in SERVICES:
            try:
                if httpx.get(f"{compose.url(service)}/health/ready", timeout=2).status_code != 200:
                    return False
            except httpx.HTTPError:
                return False
        return True

    deadline = time.monotonic() + 240
    while not all_ready():
        if time.monotonic() > deadline:
            ps = compose("ps")
            raise AssertionError(f"compose services not ready:\n{ps.stdout}{ps.stderr}")
        time.sleep(1)
    names = podman("ps", "--format", "{{.Names}}").stdout.split()
    for service in SERVICES:
        (name,) = [n for n in names if n.startswith(f"{PROJECT}_{service}_")]
        host = json.loads(podman("inspect", name).stdout)[0]["HostConfig"]
        assert host["ReadonlyRootfs"] is True and host["Memory"] == 512 * 1024**2, name
        assert "no-new-privileges" in " ".join(host["SecurityOpt"] or []), name
        caps = podman("exec", name, "grep", "^CapEff", "/proc/1/status").stdout.split()[1]
        assert caps == "0" * 16, (name, caps)
    assert not [n for n in names if n.startswith(PREFIX)]


async def test_compose_deployment_carries_a_member_through_to_outreach(
    compose: Compose, deployment: Deployment
) -> None:
    """A library joins through the compose deployment's membership; its outreach, reading the
    same Kafka, welcomes it by mail exactly once."""
    isil = f"FI-Cc{uuid.uuid4().hex[:5]}"
    address = f"{isil.lower()}@compose.example"
    token = issue_token(deployment.private_key, role=Role.COORDINATOR)
    async with httpx.AsyncClient(timeout=15, headers={"Authorization": f"Bearer {token}"}) as c:
        body = {
            "isil": isil, "names": {"fi": "Compose-kirjasto"}, "municipalities": ["091"],
            "population": 1234, "library_system": "Koha",
            "contacts": [{"name": "C", "email": address, "role": "director", "language": "fi"}],
        }  # fmt: skip
        created = await c.post(f"{compose.url('membership')}/libraries", json=body)
        assert created.status_code == 201, created.text
        joined = await c.post(
            f"{compose.url('membership')}/libraries/{isil}/membership",
            json={"signed_on": dt.date.today().isoformat(), "signatory": "C"},
        )
        assert joined.status_code == 201, joined.text

    def welcomes() -> list[dict]:
        return [
            m
            for m in read_sink(deployment.sink.directory)
            if m["rcpt_to"] == [address] and m["headers"].get("X-Konsortio-Kind") == "welcome"
        ]

    await wait_for(welcomes, timeout_s=120, interval_s=1)
    assert len(welcomes()) == 1
