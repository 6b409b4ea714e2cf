"""Every service as a container, the way an orchestrator runs it, against real servers.

`make test-containers` builds the image (deploy/containers/build.sh) and runs these tests under
the Apache Kafka lane (deploy/kafka/lane.sh); they are skipped anywhere else, so `make test`
leaves them out. Each container runs from the project image with podman (runc, host network:
the sandbox here has no container networking), with what the Kubernetes manifests give a pod:

- read-only root filesystem, a tmpfs on /tmp, user 10001, every capability dropped,
  no-new-privileges, the manifests' memory limit, their grace period as the stop timeout;
- settings only from the environment; the JWT public key and the PostgreSQL CA mounted as
  read-only files (as Kubernetes mounts Secrets);
- PostgreSQL: Debian's server with TLS required, each service connecting with
  sslmode=verify-full to its own role and database made by deploy/postgres/init-databases.sh;
- Kafka: the lane's Apache Kafka, topics with 4 partitions so that two replicas share work;
- SMTP: a real local SMTP server (aiosmtpd), whose mailbox outreach lists at /dev/mailbox;
- SUSHI: the usage service's stand-in COUNTER_SUSHI server (services/usage/sushi_standin.py),
  run on the host in this process, as suppliers' servers run outside the cluster; usage reaches
  it over the host network, and `konsortio demo` is given its URL (KONSORTIO_SUSHI_URL). usage's
  provider-key directory is mounted read-only, as the Secret konsortio-usage-providers is.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from kit.auth import generate_keypair
from konsortio.stack import SmtpSink
from services.usage.sushi_standin import SushiStandIn
from tests.deploy.tls_postgres import TlsPostgres, tls_postgres_server

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ARTIFACTS = ROOT / "test-artifacts" / "containers"
CONTAINERS_CONF = DEPLOY / "containers" / "containers.conf"
SERVICES = ["membership", "procurement", "catalogue", "outreach", "usage", "dashboard"]
PARTITIONS = 4
APP_UID = 10001
PREFIX = "konsortio-ct-"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark these tests `containers`; outside `make test-containers` (no image, no lane) they
    are deselected, so `make test` and `make test-kafka` leave them out."""
    here = Path(__file__).parent
    ours = [item for item in items if here in Path(item.fspath).parents]
    for item in ours:
        item.add_marker(pytest.mark.containers)
    needed = ("KONSORTIO_CONTAINERS_IMAGE", "KONSORTIO_TEST_KAFKA_BOOTSTRAP")
    if ours and not all(os.environ.get(name) for name in needed):
        config.hook.pytest_deselected(items=ours)
        items[:] = [item for item in items if item not in ours]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def podman(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, env=env
    )
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done


def k8s_pod(service: str) -> dict:
    """The Deployment's pod spec for ``service`` in deploy/k8s/base."""
    for doc in yaml.safe_load_all((DEPLOY / "k8s" / "base" / f"{service}.yaml").read_text()):
        if doc and doc["kind"] == "Deployment":
            return doc["spec"]["template"]["spec"]
    raise AssertionError(f"no Deployment in deploy/k8s/base/{service}.yaml")


def memory_limit(service: str) -> str:
    """The manifests' memory limit in podman's notation (512Mi → 512m)."""
    limit = k8s_pod(service)["containers"][0]["resources"]["limits"]["memory"]
    return limit.replace("Mi", "m").replace("Gi", "g")


def grace_period(service: str) -> int:
    return int(k8s_pod(service).get("terminationGracePeriodSeconds", 30))


@dataclass
class Container:
    name: str
    service: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def inspect(self) -> dict:
        return json.loads(podman("inspect", self.name).stdout)[0]

    def logs(self) -> str:
        done = podman("logs", self.name, check=False)
        return done.stdout + done.stderr

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


@dataclass
class Deployment:
    image: str
    bootstrap: str
    postgres: TlsPostgres
    work: Path
    sink: SmtpSink
    private_key: str
    sushi: SushiStandIn
    containers: dict[str, Container] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        """What `konsortio demo --data-dir` reads: keys/jwt_private.pem."""
        return self.work / "data"

    def service_urls(self, only: str | None = None) -> str:
        chosen = [c for c in self.containers.values() if c.name == f"{PREFIX}{c.service}"]
        return ",".join(f"{c.service}={c.url}" for c in chosen if only in (None, c.service))

    def environment(self, service: str, port: int) -> dict[str, str]:
        pg = self.postgres
        dsn = pg.dsn(service, sslmode="verify-full", sslrootcert="/run/secrets/postgres-ca.pem")
        env = {
            "KONSORTIO_HTTP_HOST": "127.0.0.1",  # host network: stay on loopback
            "KONSORTIO_HTTP_PORT": str(port),
            "KONSORTIO_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "KONSORTIO_LOG_LEVEL": "INFO",
            "KONSORTIO_DATABASE_URL": dsn,
            "KONSORTIO_JWT_PUBLIC_KEY_FILE": "/run/secrets/jwt_public.pem",
            "KONSORTIO_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KONSORTIO_KAFKA_IDEMPOTENCE": "true",
            "KONSORTIO_KAFKA_TOPIC_PARTITIONS": str(PARTITIONS),
            "KONSORTIO_RELAY_POLL_INTERVAL_S": "0.2",
        }
        if service == "outreach":
            env |= {
                "KONSORTIO_SMTP_HOST": "127.0.0.1",
                "KONSORTIO_SMTP_PORT": str(self.sink.port),
                "KONSORTIO_SMTP_STARTTLS": "false",
                "KONSORTIO_SMTP_SENDER": "Konsortio <noreply@konsortio.test>",
                "KONSORTIO_SMTP_SINK_DIR": "/run/konsortio/mailbox",
                "KONSORTIO_KIT_STORAGE_DIR": "/var/lib/konsortio/kits",
                "KONSORTIO_MAIL_INTERVAL_S": "0.2",
            }
        if service == "usage":
            env["KONSORTIO_USAGE_SECRETS_DIR"] = "/run/secrets/usage-providers"
        if service == "dashboard":
            env["KONSORTIO_SERVICE_URLS"] = self.service_urls()
        return env

    def run(self, service: str, name: str | None = None) -> Container:
        name = name or f"{PREFIX}{service}"
        port = free_port()
        args = [
            "run", "--detach", "--name", name, "--network", "host",
            "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,size=256m",
            "--user", f"{APP_UID}:{APP_UID}", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges",
            "--memory", memory_limit(service),
            "--stop-timeout", str(grace_period(service)),
            "-v", f"{self.work / 'secrets' / 'jwt_public.pem'}:/run/secrets/jwt_public.pem:ro",
            "-v", f"{self.work / 'secrets' / 'postgres-ca.pem'}:/run/secrets/postgres-ca.pem:ro",
        ]  # fmt: skip
        if service == "outreach":
            # The kits volume (a ReadWriteMany claim in Kubernetes) and the SMTP sink's mailbox.
            args += ["-v", f"{self.work / 'kits'}:/var/lib/konsortio/kits"]
            args += ["-v", f"{self.sink.directory}:/run/konsortio/mailbox:ro"]
        if service == "usage":
            providers = self.work / "secrets" / "usage-providers"
            args += ["-v", f"{providers}:/run/secrets/usage-providers:ro"]
        for key, value in self.environment(service, port).items():
            args += ["--env", f"{key}={value}"]
        podman(*args, self.image, service)
        container = Container(name=name, service=service, port=port)
        self.containers[name] = container
        return container

    def wait_ready(self, containers: list[Container], timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        pending = list(containers)
        while pending:
            pending = [c for c in pending if not c.ready()]
            if not pending:
                return
            for c in pending:
                state = c.inspect()["State"]
                if not state["Running"]:
                    raise AssertionError(
                        f"{c.name} exited ({state['ExitCode']}):\n{c.logs()[-4000:]}"
                    )
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {c.name}\n{c.logs()[-3000:]}" for c in pending)
                raise AssertionError(f"not ready in {timeout_s} s: {logs}")
            time.sleep(0.5)

    def keep_logs(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for container in self.containers.values():
            (ARTIFACTS / f"{container.name}.log").write_text(container.logs())


def _remove_leftovers() -> None:
    """Containers of an earlier run that was interrupted (the names are fixed)."""
    names = podman("ps", "--all", "--format", "{{.Names}}", check=False).stdout.split()
    for name in names:
        if name.startswith(PREFIX):
            podman("rm", "--force", "--time", "5", name, check=False)


def _secret_file(path: Path, text: str) -> None:
    """A file the service user (and only it) can read, as Kubernetes mounts a Secret."""
    path.write_text(text)
    os.chown(path, APP_UID, APP_UID)
    path.chmod(0o400)


@pytest.fixture(scope="session")
def deployment() -> Iterator[Deployment]:
    image = os.environ["KONSORTIO_CONTAINERS_IMAGE"]
    _remove_leftovers()
    # Not under pytest's tmp_path: its 0700 parents would keep the service user out.
    work = Path(tempfile.mkdtemp(prefix="konsortio-containers-"))
    work.chmod(0o755)
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, True)
        postgres = stack.enter_context(tls_postgres_server())
        assert postgres.tls, "the container tests need Debian's PostgreSQL (apt: postgresql)"
        private_key, public_key = generate_keypair()
        (work / "data" / "keys").mkdir(parents=True)
        (work / "data" / "keys" / "jwt_private.pem").write_text(private_key)
        (work / "secrets").mkdir()
        _secret_file(work / "secrets" / "jwt_public.pem", public_key)
        _secret_file(work / "secrets" / "postgres-ca.pem", postgres.ca_file.read_text())
        (work / "secrets" / "usage-providers").mkdir()
        os.chown(work / "secrets" / "usage-providers", APP_UID, APP_UID)
        (work / "secrets" / "usage-providers").chmod(0o500)
        sushi = SushiStandIn(titles=25)
        sushi.start()
        stack.callback(sushi.stop)
        (work / "kits").mkdir()
        os.chown(work / "kits", APP_UID, APP_UID)
        sink = SmtpSink(free_port(), work / "mailbox")
        sink.start()
        stack.callback(sink.stop)
        (work / "mailbox").chmod(0o755)
        deployment = Deployment(
            image=image,
            bootstrap=os.environ["KONSORTIO_TEST_KAFKA_BOOTSTRAP"],
            postgres=postgres,
            work=work,
            sink=sink,
            private_key=private_key,
            sushi=sushi,
        )
        stack.callback(_remove_leftovers)
        stack.callback(deployment.keep_logs)
        # Producers first, so every topic exists (with its partitions) before consumers join;
        # the dashboard last, since it is handed the others' URLs.
        first = [deployment.run(s) for s in SERVICES if s != "dashboard"]
        deployment.wait_ready(first)
        deployment.wait_ready([deployment.run("dashboard")])
        yield deployment
