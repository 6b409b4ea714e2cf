"""``konsortio demo``: a realistic scenario through the HTTP APIs of a running stack.

It only uses what any client has: the services' HTTP APIs and tokens signed with the stack's
key. Each step waits for the reactions it should cause and records whether they happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib
import json
import os
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from kit.auth import Role, issue_token
from konsortio.stack import SERVICE_PORTS

# What the demo does is its output, so it goes to stdout; piped into a file or another tool,
# lines stay whole instead of being wrapped at 80 columns. Failures go to stderr.
console = Console(highlight=False, soft_wrap=not sys.stdout.isatty())
errors = Console(stderr=True, highlight=False, soft_wrap=True)


def service_urls(data_dir: Path | None = None) -> dict[str, str]:
    """The services' URLs: the defaults, then those ``konsortio up`` wrote to the data
    directory's stack.json (it may have moved the ports), then KONSORTIO_SERVICE_URLS."""
    urls = {name: f"http://127.0.0.1:{port}" for name, port in SERVICE_PORTS.items()}
    state_file = data_dir / "stack.json" if data_dir else None
    if state_file and state_file.is_file():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            state = json.loads(state_file.read_text())
            urls.update({name: info["url"] for name, info in state["services"].items()})
            if "sushi" in state:  # the SUSHI stand-in `konsortio up` runs for usage
                urls["sushi"] = state["sushi"]
    for item in os.environ.get("KONSORTIO_SERVICE_URLS", "").split(","):
        if "=" in item:
            name, url = item.split("=", 1)
            urls[name.strip()] = url.strip()
    return urls


# The scenario runs in phases; each service's steps live in konsortio/demo_steps/<service>.py
# as ``STEPS = [(phase, step), ...]`` and share one DemoContext.
PHASES = ("setup", "membership", "procurement", "catalogue", "outreach", "checks")
STEP_MODULES = ("membership", "procurement", "catalogue", "outreach", "usage", "dashboard")


@dataclass
class DemoContext:
    private_key: str
    urls: dict[str, str]
    suffix: str
    today: dt.date
    libraries: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # ids shared between steps

    def token(self, role: Role | str = Role.COORDINATOR, isil: str | None = None) -> str:
        return issue_token(self.private_key, role=role, isil=isil, subject=f"demo:{role}")


class Scenario:
    def __init__(self, client: httpx.AsyncClient, timeout_s: float, quiet: bool) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self.quiet = quiet
        self.steps: list[dict[str, Any]] = []
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        if not self.quiet:
            console.print(text)

    async def call(self, method: str, url: str, token: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(
            method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {url} -> {response.status_code}: {response.text}")
        return response

    async def expect(self, name: str, check: Callable[[], Awaitable[Any]]) -> bool:
        """Wait until ``check`` returns something truthy, and record the outcome."""
        began = time.monotonic()
        deadline = began + self.timeout_s
        detail: Any = None
        while True:
            try:
                detail = await check()
            except (httpx.HTTPError, RuntimeError, KeyError) as error:
                detail = None
                last_error = str(error)
            else:
                last_error = ""
            if detail:
                break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        ok = bool(detail)
        self.steps.append(
            {
                "step": name,
                "ok": ok,
                "seconds": round(time.monotonic() - began, 2),
                "detail": detail if ok else last_error or "not observed in time",
            }
        )
        self.say(f"{'[green]✓' if ok else '[red]✗'}[/] {name} ({self.steps[-1]['seconds']} s)")
        return ok


async def run_demo(data_dir: Path, *, timeout_s: float = 20, quiet: bool = False) -> dict[str, Any]:
    key_file = data_dir / "keys" / "jwt_private.pem"
    if not key_file.exists():
        return {"ok": False, "error": f"no stack key at {key_file}: is `make up` running?"}
    started = time.monotonic()
    try:
        return await _scenario(
            key_file.read_text(), timeout_s=timeout_s, quiet=quiet, urls=service_urls(data_dir)
        )
    except (httpx.HTTPError, RuntimeError) as error:
        errors.print(f"[red]demo stopped: {error}[/red]")
        return {"ok": False, "error": str(error), "seconds": round(time.monotonic() - started, 2)}


async def _scenario(
    private_key: str, *, timeout_s: float, quiet: bool, urls: dict[str, str]
) -> dict[str, Any]:
    context = DemoContext(
        private_key=private_key,
        urls=urls,
        suffix=secrets.token_hex(2),
        today=dt.date.today(),
    )
    async with httpx.AsyncClient(timeout=10) as client:
        s = Scenario(client, timeout_s, quiet)
        s.say(f"[bold]Konsortio demo[/bold] (run {context.suffix})")
        for phase in PHASES:
            for module_name in STEP_MODULES:
                module = _steps_module(module_name)
                for step_phase, step in getattr(module, "STEPS", ()):
                    if step_phase == phase:
                        await step(s, context)
    ok = all(step["ok"] for step in s.steps)
    summary = {
        "ok": ok,
        "run": context.suffix,
        "seconds": round(time.monotonic() - s.started, 2),
        "libraries": [lib["isil"] for lib in context.libraries],
        "facts": context.facts,
        "steps": s.steps,
    }
    s.say(
        f"[bold]{'all reactions observed' if ok else 'some reactions missing'}[/bold] "
        f"in {summary['seconds']} s"
    )
    return summary


def _steps_module(name: str) -> Any:
    try:
        return importlib.import_module(f"konsortio.demo_steps.{name}")
    except ImportError:
        return None
