"""deploy/observability: the Prometheus alert rules pass `promtool check rules` and fire on the
series they are written for (`promtool test rules`), the Grafana dashboard is well formed,
and every metric either of them names is exported by a running service.

promtool comes from Debian's ``prometheus`` package, installed on demand when the test runs
as root (as the compose check installs docker-compose); the test is skipped, saying why, only
when that is impossible outside CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Infra, consumer_ready, running, wait_for

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
RULES = OBSERVABILITY / "alerts.yml"
DASHBOARD = OBSERVABILITY / "grafana-konsortio.json"
# Produced by Prometheus itself for every target, not by a service.
FROM_PROMETHEUS = {"up"}
REQUIRED_ALERTS = {
    "KonsortioConsumerLagGrowing",
    "KonsortioOutboxBacklog",
    "KonsortioDeadLetter",
    "KonsortioServiceNotReady",
    "KonsortioContainerRestarting",
}
PROMQL_WORDS = {
    "sum", "by", "and", "or", "unless", "rate", "increase", "deriv", "changes", "max",
    "histogram_quantile", "le", "without", "on", "ignoring", "bool", "offset",
}  # fmt: skip


def _promtool() -> str | None:
    found = shutil.which("promtool")
    if found or os.environ.get("KONSORTIO_NO_APT") or os.geteuid() != 0:
        return found
    if not shutil.which("apt-get"):
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "prometheus"]
    done = subprocess.run(install, capture_output=True, env=env, timeout=400)
    if done.returncode != 0:  # a fresh machine has no package lists yet
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=400)
        subprocess.run(install, capture_output=True, env=env, timeout=400)
    return shutil.which("promtool")


@pytest.fixture(scope="module")
def promtool() -> str:
    found = _promtool()
    if not found:
        if os.environ.get("CI"):
            pytest.fail("promtool (Debian's prometheus package) could not be installed")
        pytest.skip("promtool (Debian's prometheus package) is not installed and cannot be")
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=OBSERVABILITY, capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_rules_and_the_scrape_configuration(promtool: str) -> None:
    for command in (("check", "rules", "alerts.yml"), ("check", "config", "prometheus.yml")):
        result = _run(promtool, *command)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerts_fire_on_the_series_they_are_for(promtool: str) -> None:
    result = _run(promtool, "test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def _rules() -> list[dict[str, Any]]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


def test_every_alert_has_a_severity_a_summary_and_the_required_ones_exist() -> None:
    rules = _rules()
    assert REQUIRED_ALERTS <= {rule["alert"] for rule in rules}
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
    lag = next(rule for rule in rules if rule["alert"] == "KonsortioConsumerLagGrowing")
    assert lag["for"] == "10m" and "[10m]" in lag["expr"]


def _dashboard_panels() -> list[dict[str, Any]]:
    return json.loads(DASHBOARD.read_text())["panels"]


def test_the_dashboard_is_well_formed() -> None:
    document = json.loads(DASHBOARD.read_text())
    assert document["uid"] and document["title"]
    variables = {v["name"] for v in document["templating"]["list"]}
    assert "datasource" in variables
    panels = _dashboard_panels()
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
    titles = " ".join(panel["title"].lower() for panel in panels)
    for topic in ("request rate", "latency", "lag", "outbox", "dead letters", "relay", "ingest"):
        assert topic in titles, topic


def _metric_names(expression: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers not inside {...} or "...", not a
    function, keyword or label; histogram series reduced to their family."""
    text = re.sub(r'"[^"]*"', '""', expression)
    text = re.sub(r"\{[^}]*\}", "{}", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    text = re.sub(r"\bby\s*\([^)]*\)|\bwithout\s*\([^)]*\)", "", text)
    names = set()
    for word in re.findall(r"\b[a-z_][a-z0-9_]*\b", text):
        if word in PROMQL_WORDS or re.fullmatch(r"\d.*", word):
            continue
        names.add(re.sub(r"_(bucket|count|sum)$", "", word))
    return names


def _named_metrics() -> set[str]:
    names: set[str] = set()
    for rule in _rules():
        names |= _metric_names(rule["expr"])
    for panel in _dashboard_panels():
        for target in panel.get("targets", []):
            names |= _metric_names(target["expr"])
    return names - FROM_PROMETHEUS


def test_the_metric_name_parser_finds_what_the_files_name() -> None:
    assert _metric_names(
        'histogram_quantile(0.99, sum by (service, le) (rate(a_b_bucket{x="y_z"}[5m]))) > 2'
    ) == {"a_b"}
    named = _named_metrics()
    assert {"konsortio_consumer_lag", "konsortio_outbox_backlog", "konsortio_ready"} <= named


def _families(exposition: str) -> dict[str, str]:
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.MULTILINE))


@pytest.mark.integration
async def test_every_metric_the_rules_and_the_dashboard_name_is_exported(infra: Infra) -> None:
    """outreach, as a real service on the embedded stack: it has every part the rules watch
    (HTTP, an outbox relay, a consumer group)."""
    from services.outreach.app import build
    from services.outreach.settings import OutreachSettings

    dsn = await infra.new_database("observability")
    mail = OutreachSettings(
        smtp_host="127.0.0.1", smtp_port=infra.smtp.port, smtp_sink_dir=str(infra.smtp.directory)
    )
    app = build(infra.settings("outreach", dsn, consumer_group="observability-test"), mail)
    async with running(app) as client:
        await consumer_ready(app)
        await wait_for(lambda: app.state.runtime.kafka_ready)
        assert (await client.get("/health/ready")).status_code == 200

        async def scraped_with_lag() -> str | None:
            text = (await client.get("/metrics")).text
            return text if 'konsortio_consumer_lag{group="observability-test"' in text else None

        exposition = await wait_for(scraped_with_lag, timeout_s=60)
    families = _families(exposition)
    missing = sorted(name for name in _named_metrics() if name not in families)
    assert not missing, f"named in deploy/observability but not exported: {missing}"
    assert 'konsortio_ready{service="outreach"} 1.0' in exposition
    assert re.search(
        r'konsortio_http_request_duration_seconds_count\{[^}]*route="/health/ready"[^}]*\}',
        exposition,
    )
