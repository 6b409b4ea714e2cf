"""After a scenario: wait until everything has caught up, then compare every command made with
every effect observed.

- Commands whose answer was lost (503, a dropped connection, a killed process) are resolved
  from the producing service's state first: either they took effect or they did not.
- Each command that took effect must have caused exactly one event (one event id, found on
  its producer's topic by the command's correlation id); a command that did not take effect
  must have caused none (otherwise state and events disagree: something was half-written).
- Each consumer's probe then checks the effects those events must have, and its read model.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from contracts.base import topic_for
from reliability.kafka import TopicRecord, group_lag, lags, read_topics
from reliability.ledger import Ledger, Outcome
from reliability.probes.base import EffectContext, Probe
from reliability.stack import Stack

BACKLOG_METRIC = re.compile(r'^konsortio_outbox_backlog\{service="([^"]+)"\}\s+([0-9.e+]+)', re.M)


@dataclass
class Progress:
    """How far behind the system is: all zero when it has caught up."""

    lag: dict[str, int] = field(default_factory=dict)  # group -> messages not yet consumed
    backlog: dict[str, int] = field(default_factory=dict)  # service -> outbox rows unsent
    pending: dict[str, int] = field(default_factory=dict)  # service -> accepted work not done
    errors: list[str] = field(default_factory=list)
    # Partitions whose end offset the broker reports below a group's committed offset.
    behind: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def caught_up(self) -> bool:
        return not self.errors and not any(
            v for part in (self.lag, self.backlog, self.pending) for v in part.values()
        )

    def describe(self) -> str:
        parts = [f"lag {self.lag}", f"outbox backlog {self.backlog}", f"pending {self.pending}"]
        if self.behind:
            parts.append(f"end offsets below committed offsets {self.behind}")
        if self.errors:
            parts.append(f"errors {self.errors[:3]}")
        return "; ".join(parts)


async def progress(
    stack: Stack,
    client: httpx.AsyncClient,
    consumers: Mapping[str, Sequence[str]],
    probes: Mapping[str, Probe],
) -> Progress:
    state = Progress()
    for group, topics in consumers.items():
        try:
            lags = await group_lag(stack.bootstrap, group, topics)
        except Exception as error:  # a broker hiccup: not caught up yet
            state.errors.append(f"lag of {group}: {error!r}")
            continue
        # A group ahead of the reported end has nothing left to read there; the broker's
        # inconsistency is kept apart, as a finding about the broker.
        state.lag[group] = sum(max(v, 0) for v in lags.values())
        ahead = {tp: v for tp, v in lags.items() if v < 0}
        if ahead:
            state.behind[group] = ahead
    for service in stack.services:
        try:
            text = (await client.get(f"{stack.url(service)}/metrics", timeout=5)).text
            for name, value in BACKLOG_METRIC.findall(text):
                if name == service:
                    state.backlog[service] = int(float(value))
        except httpx.HTTPError as error:
            state.errors.append(f"metrics of {service}: {error!r}")
        probe = probes[service]
        if probe.pending_work is not None:
            try:
                state.pending[service] = await probe.pending_work(stack, client)
            except httpx.HTTPError as error:
                state.errors.append(f"pending work of {service}: {error!r}")
    return state


async def settle(
    stack: Stack,
    client: httpx.AsyncClient,
    consumers: Mapping[str, Sequence[str]],
    probes: Mapping[str, Probe],
    timeout_s: float,
) -> tuple[float | None, Progress]:
    """Seconds until lag, outbox backlogs and pending work are all zero (twice in a row,
    so a relay mid-batch is not mistaken for done); None if not within ``timeout_s``."""
    began = time.monotonic()
    streak = 0
    state = Progress()
    while time.monotonic() - began < timeout_s:
        state = await progress(stack, client, consumers, probes)
        streak = streak + 1 if state.caught_up else 0
        if streak >= 2:
            return time.monotonic() - began, state
        await asyncio.sleep(0.5)
    return None, state


@dataclass
class Watch:
    """Samples consumer lag and outbox backlog twice a second while a scenario runs, so the
    time to catch up after each fault can be read off afterwards (for every consumer, not
    only those whose effects carry a timestamp)."""

    stack: Stack
    client: httpx.AsyncClient
    consumers: Mapping[str, Sequence[str]]
    samples: list[tuple[float, bool]] = field(default_factory=list)  # (time, all at zero)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="progress-watch")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stop.is_set():
            zero = True
            try:
                if self.consumers:
                    zero = not any((await lags(self.stack.bootstrap, self.consumers)).values())
                for service in self.stack.services:
                    text = (
                        await self.client.get(f"{self.stack.url(service)}/metrics", timeout=2)
                    ).text
                    zero = zero and not any(
                        float(v) for name, v in BACKLOG_METRIC.findall(text) if name == service
                    )
            except Exception:  # a paused broker or a restarting service: not caught up
                zero = False
            # Stamped when the measurement ends: zero by then at the latest.
            self.samples.append((time.time(), zero))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.5)

    def caught_up_after(self, moment: float) -> float | None:
        for at, zero in self.samples:
            if at >= moment and zero:
                return round(at - moment, 2)
        return None


@dataclass
class Reconciliation:
    commands: dict[str, int] = field(default_factory=dict)  # by outcome
    statuses: dict[str, int] = field(default_factory=dict)
    unknown_resolved: dict[str, int] = field(default_factory=dict)  # happened / not
    events_expected: int = 0
    events_observed: int = 0
    events_lost: list[str] = field(default_factory=list)
    events_duplicated: list[str] = field(default_factory=list)  # one command, two event ids
    events_phantom: list[str] = field(default_factory=list)  # event without its state change
    events_wrong: list[str] = field(default_factory=list)  # wrong type or key
    redelivered_copies: int = 0  # same event id on the topic twice (relay retry): harmless
    effects_expected: int = 0
    effects_observed: int = 0
    effects_lost: list[str] = field(default_factory=list)
    effects_duplicated: list[str] = field(default_factory=list)
    read_model_mismatches: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)  # 5xx other than 503
    unexpected_rejections: list[str] = field(default_factory=list)  # 4xx the load never earns
    timings: list[tuple[float, float]] = field(default_factory=list)  # (cause, effect) times
    figures: dict[str, Any] = field(default_factory=dict)

    def catch_up_after(self, fault_end: float) -> float:
        """Seconds from the end of a fault until the last effect of any command made before
        that end was observed."""
        late = [effect - fault_end for cause, effect in self.timings if cause <= fault_end]
        return round(max([0.0, *late]), 2)

    def longest_delay(self) -> float | None:
        """The longest time from a command to one of its effects."""
        return (
            round(max((e - c for c, e in self.timings), default=0.0), 2) if self.timings else None
        )

    def summary(self) -> dict[str, Any]:
        return {
            "commands": self.commands,
            "http_statuses": self.statuses,
            "unknown_outcomes_resolved": self.unknown_resolved,
            "events_expected": self.events_expected,
            "events_produced": self.events_observed,
            "events_lost": len(self.events_lost),
            "events_duplicated": len(self.events_duplicated),
            "events_without_state_change": len(self.events_phantom),
            "events_wrong": len(self.events_wrong),
            # The same event id on its topic more than once (a relay republished a batch
            # after a crash): expected, and the inbox skips the copies. Not a duplicated
            # effect; that is effects_duplicated.
            "event_copies_redelivered_ignored": self.redelivered_copies,
            "effects_expected": self.effects_expected,
            "effects_observed": self.effects_observed,
            "effects_lost": len(self.effects_lost),
            "effects_duplicated": len(self.effects_duplicated),
            "read_model_mismatches": len(self.read_model_mismatches),
            "server_errors": len(self.server_errors),
            "unexpected_rejections": len(self.unexpected_rejections),
            **self.figures,
        }

    def examples(self, limit: int = 5) -> dict[str, list[str]]:
        named = {
            "events_lost": self.events_lost,
            "events_duplicated": self.events_duplicated,
            "events_without_state_change": self.events_phantom,
            "events_wrong": self.events_wrong,
            "effects_lost": self.effects_lost,
            "effects_duplicated": self.effects_duplicated,
            "read_model_mismatches": self.read_model_mismatches,
            "server_errors": self.server_errors,
            "unexpected_rejections": self.unexpected_rejections,
        }
        return {name: items[:limit] for name, items in named.items() if items}


async def reconcile(
    stack: Stack,
    client: httpx.AsyncClient,
    ledgers: Iterable[Ledger],
    probes: Mapping[str, Probe],
) -> Reconciliation:
    ledger = Ledger([c for one in ledgers for c in one.commands])
    result = Reconciliation(commands=ledger.counts(), statuses=ledger.statuses())

    resolved = {"happened": 0, "did not happen": 0}
    for command in ledger.commands:
        if command.outcome is Outcome.SERVER_ERROR:
            result.server_errors.append(
                f"{command.action} {command.key}: {command.status} {command.error}"
            )
        if command.outcome is Outcome.REJECTED:
            result.unexpected_rejections.append(
                f"{command.action} {command.key}: {command.status} {command.error}"
            )
        if command.outcome in (Outcome.UNKNOWN, Outcome.SERVER_ERROR) and command.happened is None:
            resolver = probes[command.service].resolve
            command.happened = bool(resolver and await resolver(command, stack, client))
        if command.happened is not None:
            resolved["happened" if command.happened else "did not happen"] += 1
    result.unknown_resolved = resolved

    producers = sorted({c.service for c in ledger.commands if c.expects})
    records = await read_topics(stack.bootstrap, [topic_for(p) for p in producers])
    by_correlation: dict[str, list[TopicRecord]] = {}
    for record in records:
        correlation_id = record.header("ce_correlationid")
        if correlation_id and correlation_id.startswith("rel-"):
            by_correlation.setdefault(correlation_id, []).append(record)

    caused: dict[str, list[TopicRecord]] = {}
    for command in ledger.with_events():
        found = by_correlation.get(command.correlation_id, [])
        ids: dict[Any, TopicRecord] = {}
        for record in found:
            ids.setdefault(record.header("ce_id"), record)
        result.redelivered_copies += len(found) - len(ids)
        label = f"{command.expects} for {command.action} {command.key}"
        if not command.took_effect:
            if ids:
                result.events_phantom.append(f"{label}: {len(ids)} event(s), no state change")
            continue
        result.events_expected += 1
        if not ids:
            result.events_lost.append(f"{label} ({command.correlation_id})")
            continue
        result.events_observed += 1
        if len(ids) > 1:
            result.events_duplicated.append(f"{label}: {len(ids)} event ids")
        first = next(iter(ids.values()))
        kind = first.header("ce_type") or ""
        if f".{command.expects}.v" not in kind or first.key != command.key:
            result.events_wrong.append(f"{label}: got {kind} keyed {first.key}")
        result.timings.append((command.started, first.timestamp))
        caused[command.correlation_id] = list(ids.values())

    context = EffectContext(stack=stack, client=client, ledger=ledger, events=caused)
    for name, probe in probes.items():
        if probe.effects is None or name not in stack.services:
            continue
        report = await probe.effects(context)
        result.effects_expected += report.expected
        result.effects_observed += report.observed
        result.effects_lost += [f"{name}: {item}" for item in report.lost]
        result.effects_duplicated += [f"{name}: {item}" for item in report.duplicated]
        result.read_model_mismatches += [f"{name}: {item}" for item in report.mismatched]
        result.timings += report.timings
        result.figures.update({f"{name}_{k}": v for k, v in report.figures.items()})
    return result
