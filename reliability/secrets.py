"""Scenario 8: no contact email and no token in any log.

``konsortio demo`` runs first, against the fresh stack (its own contacts, its own tokens, every
service's steps); at the end every service's log, captured since the stack started (so also
through every fault, the schemathesis runs and the authorization matrix), is scanned for e-mail
addresses, bearer tokens (JWTs) and the private key. Findings are reported by file and line
with the secret itself cut short, so the report does not leak what it found.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from reliability.report import ScenarioResult
from reliability.stack import REPO_ROOT
from reliability.suite import Suite

DEMO_TIMEOUT_S = 300
PATTERNS = {
    "email": re.compile(rb"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"),
    "jwt": re.compile(rb"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"),
    "private key": re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
# Addresses that are not personal data: the system's own sender and Message-ID domain.
NOT_PERSONAL = (b"@konsortio.localhost",)


@dataclass
class Finding:
    file: str
    line: int
    kind: str
    excerpt: str  # cut short: enough to recognise, not enough to use


@dataclass
class Scan:
    lines: int = 0
    bytes: int = 0
    findings: list[Finding] = field(default_factory=list)


def scan(
    paths: list[Path], start: dict[str, int] | None = None, end: dict[str, int] | None = None
) -> Scan:
    """Scan each file, or the part of it between the ``start`` and ``end`` byte offsets."""
    result = Scan()
    for path in paths:
        first = (start or {}).get(path.name, 0)
        with open(path, "rb") as handle:
            handle.seek(first)
            last = (end or {}).get(path.name)
            data = handle.read(last - first) if last is not None else handle.read()
        result.bytes += len(data)
        for number, line in enumerate(data.splitlines(), start=1):
            result.lines += 1
            for kind, pattern in PATTERNS.items():
                for match in pattern.finditer(line):
                    text = match.group(0)
                    if kind == "email" and text.lower().endswith(NOT_PERSONAL):
                        continue
                    shown = text[:6].decode(errors="replace") + "…"
                    result.findings.append(Finding(path.name, number, kind, shown))
    return result


async def run_demo(suite: Suite) -> dict:
    env = {**os.environ, "KONSORTIO_SERVICE_URLS": suite.stack.service_urls()}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "konsortio.cli",
        "demo",
        "--data-dir",
        str(suite.stack.root),
        "--json",
        "--timeout",
        "60",
        env=env,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), DEMO_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        return {"ok": False, "error": f"demo took over {DEMO_TIMEOUT_S}s"}
    try:
        summary = json.loads(out)
    except ValueError:
        return {"ok": False, "error": f"exit {process.returncode}: {err.decode()[-800:]}"}
    summary["exit_code"] = process.returncode
    return summary


async def demo(suite: Suite) -> ScenarioResult:
    """``konsortio demo`` on the fresh stack, first of all, as a newcomer would run it; its log
    lines are remembered (file offsets) for the scan at the end."""
    result = ScenarioResult("demo", "8a. konsortio demo (logs kept for the scan)")
    services = [p for p in sorted(suite.stack.logs.glob("*.log")) if p.stem in suite.stack.services]
    before = {p.name: p.stat().st_size for p in services}
    summary = await run_demo(suite)
    after = {p.name: p.stat().st_size for p in services}
    suite.facts["demo_logs"] = {"before": before, "after": after}
    failed_steps = [s["step"] for s in summary.get("steps", []) if not s.get("ok")]
    result.check(
        "the demo ran and every reaction it expects was observed",
        bool(summary.get("ok")),
        f"{len(summary.get('steps', []))} steps in {summary.get('seconds')} s"
        + (f"; failed: {failed_steps}" if failed_steps else "")
        + (f"; {summary['error']}" if summary.get("error") else ""),
    )
    result.figures.update(
        {
            "demo_ok": bool(summary.get("ok")),
            "demo_steps": len(summary.get("steps", [])),
            "demo_failed_steps": failed_steps,
            "demo_seconds": summary.get("seconds"),
        }
    )
    suite.check_crashes(result)
    return result


async def secrets_in_logs(suite: Suite) -> ScenarioResult:
    result = ScenarioResult("secrets", "8. Secrets and personal data in logs")
    services = [p for p in sorted(suite.stack.logs.glob("*.log")) if p.stem in suite.stack.services]
    segment = suite.facts.get("demo_logs")
    if segment is None:
        result.skip("the demo's logs", "the demo did not run first (--only without demo)")
    else:
        during_demo = scan(services, segment["before"], segment["after"])
        shown = [f"{f.file}:{f.line} {f.kind} {f.excerpt}" for f in during_demo.findings]
        result.zero("e-mail addresses or tokens in the logs of the demo", shown)
        result.figures["demo_log_lines_scanned"] = during_demo.lines
        result.figures["secrets_found_during_demo"] = len(during_demo.findings)
    whole_run = scan(services)
    by_kind: dict[str, dict[str, int]] = {}
    for finding in whole_run.findings:
        by_kind.setdefault(finding.kind, {}).setdefault(finding.file, 0)
        by_kind[finding.kind][finding.file] += 1
    shown = [f"{f.file}:{f.line} {f.kind} {f.excerpt}" for f in whole_run.findings]
    result.zero("e-mail addresses or tokens in the logs of the whole run", shown)
    result.figures.update(
        {
            "log_files": [p.name for p in services],
            "log_lines_scanned": whole_run.lines,
            "log_bytes_scanned": whole_run.bytes,
            "secrets_found": len(whole_run.findings),
            "findings_by_kind_and_file": by_kind,
            "first_findings": [vars(f) for f in whole_run.findings[:20]],
            "summary": f"{whole_run.lines} lines scanned, {len(whole_run.findings)} findings",
        }
    )
    suite.check_crashes(result)
    return result
