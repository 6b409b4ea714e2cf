"""Scenarios 1-4: the broker down, processes killed, the database restarted, and a consumer
group replayed from the beginning, each under a steady load and reconciled afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field

import httpx

from reliability.kafka import end_offsets, group_lag, group_offsets, reset_group_to_earliest
from reliability.reconcile import BACKLOG_METRIC, reconcile
from reliability.report import ScenarioResult
from reliability.suite import Suite

# A library must not wait longer than this for a reaction after a consumer crashed.
KILL_CATCH_UP_BOUND_S = 60.0
CONSUMED_METRIC = re.compile(
    r'^konsortio_consumer_messages_total\{consumer="([^"]+)",outcome="([^"]+)",'
    r'topic="([^"]+)"\}\s+([0-9.e+]+)',
    re.M,
)


async def outbox_backlog(suite: Suite, service: str) -> int | None:
    try:
        text = (await suite.client.get(f"{suite.stack.url(service)}/metrics", timeout=5)).text
    except httpx.HTTPError:
        return None
    for name, value in BACKLOG_METRIC.findall(text):
        if name == service:
            return int(float(value))
    return None


async def broker_down(suite: Suite) -> ScenarioResult:
    mode, stack = suite.mode, suite.stack
    result = ScenarioResult("broker_down", f"1. Broker down {mode.broker_down_s:g} s")
    assert stack.broker is not None
    load = suite.new_load()
    await load.start()
    watch = suite.watch()
    await asyncio.sleep(mode.warmup_s)
    start = time.time()
    stack.broker.pause()  # SIGSTOP: Tansu keeps its topics only in memory
    backlog: dict[str, int | None] = {}
    try:
        await asyncio.sleep(mode.broker_down_s)
        backlog = {name: await outbox_backlog(suite, name) for name in stack.services}
    finally:
        stack.broker.resume()
    end = time.time()
    await asyncio.sleep(mode.after_s)
    during = [c for c in load.ledger.writes() if start <= c.started <= end]
    refused = [f"{c.action} {c.key}: {c.status} {c.error}" for c in during if c.outcome != "ok"]
    result.check(
        "HTTP APIs accepted every command while the broker was down",
        bool(during) and not refused,
        f"{len(during) - len(refused)}/{len(during)} accepted"
        + (f"; refused: {refused[:3]}" if refused else ""),
    )
    waiting = sum(v or 0 for v in backlog.values())
    result.check(
        "events waited in the outbox during the outage",
        waiting > 0,
        f"outbox backlog just before the broker came back: {backlog}",
    )
    result.figures["commands_during_outage"] = len(during)
    result.figures["outbox_backlog_at_resume"] = backlog
    await suite.conclude(result, load, [(start, end)], watch)
    return result


async def caught_up_after(suite: Suite, service: str, since: float) -> float | None:
    """Seconds from ``since`` (a kill's end) until ``service`` has caught up: its consumer
    group has committed past every record that was on its topics when the service was ready
    again, and its outbox holds nothing unsent. Measured on the service's own group, so the
    figure is this kill's, not whatever other faults or the steady load leave behind.
    None if not within the settle timeout."""
    stack = suite.stack
    topics = suite.consumers.get(service)
    marks = await end_offsets(stack.bootstrap, topics) if topics else {}
    deadline = time.monotonic() + suite.mode.settle_timeout_s
    while time.monotonic() < deadline:
        try:
            committed = await group_offsets(stack.bootstrap, service, list(marks))
        except Exception:  # a broker hiccup: not caught up yet
            committed = None
        if committed is not None and all(
            max(committed.get(tp, -1), 0) >= end for tp, end in marks.items()
        ):
            if await outbox_backlog(suite, service) == 0:
                return round(time.time() - since, 2)
        await asyncio.sleep(0.2)
    return None


async def processes_killed(suite: Suite) -> ScenarioResult:
    """kill -9 at random moments mid-stream, each followed by a restart. Consumers get the
    number the issue asks for; services that only produce get a few too, since their outbox
    relay can die between publishing and marking rows sent. The next kill waits until the
    killed service has caught up, so each kill's catch-up is measured on its own (kills that
    overlap would measure the last one's, and a figure for the first that runs on to the
    end of the whole series)."""
    mode, stack, rng = suite.mode, suite.stack, suite.rng
    sampled = suite.sampled_consumers()
    plan = [
        (name, mode.kills_per_consumer if name in suite.consumers else mode.kills_per_producer)
        for name in stack.services
        if name in sampled or name not in suite.consumers
    ]
    total = sum(n for _, n in plan)
    result = ScenarioResult("consumer_killed", f"2. kill -9 ({total} kills)")
    load = suite.new_load()
    await load.start()
    watch = suite.watch()
    await asyncio.sleep(mode.warmup_s)
    windows: list[tuple[float, float]] = []
    catch_ups: list[float | None] = []
    restarts: dict[str, list[float]] = {}
    per_kill: dict[str, list[float | None]] = {}
    failures: list[str] = []
    for name, kills in plan:
        for _ in range(kills):
            # A random moment mid-stream: the load never pauses.
            await asyncio.sleep(rng.uniform(0.5, 4.0))
            process = stack.services[name]
            began = time.time()
            await asyncio.to_thread(process.kill9)
            process.start()
            # The fault ends when the process is back; rejoining the consumer group is part
            # of catching up.
            end = time.time()
            windows.append((began, end))
            try:
                ready_s = await stack.wait_ready(name)
            except (TimeoutError, RuntimeError) as error:
                failures.append(f"{name}: {error}")
                catch_ups.append(None)
                continue
            restarts.setdefault(name, []).append(round(ready_s, 2))
            caught = await caught_up_after(suite, name, end)
            catch_ups.append(caught)
            per_kill.setdefault(name, []).append(caught)
    await asyncio.sleep(mode.after_s)
    result.zero("restarts that did not become ready", failures)
    result.figures["kills"] = {name: len(times) for name, times in restarts.items()}
    result.figures["consumers_not_killed_in_this_mode"] = sorted(
        set(suite.consumers) - set(sampled)
    )
    result.figures["seconds_to_ready_after_restart"] = restarts
    result.figures["catch_up_after_each_kill_s"] = per_kill
    result.figures["consumer_session_timeout_ms"] = stack.consumer_session_timeout_ms()
    await suite.conclude(result, load, windows, watch, own_catch_ups=catch_ups)
    # The killed service's own catch-up: its consumer has handled everything that waited for
    # it, and its outbox is published. longest_catch_up_s also waits for the last effect of
    # every earlier command, which includes mail a killed outreach had claimed: that is sent
    # again only when the claim's lease (60 s, outreach's own) runs out.
    measured = [c for c in catch_ups if c is not None]
    longest = max(measured) if len(measured) == len(catch_ups) and measured else None
    result.figures["longest_consumer_catch_up_s"] = longest
    result.check(
        f"every killed service caught up within {KILL_CATCH_UP_BOUND_S:g} s",
        longest is not None and longest < KILL_CATCH_UP_BOUND_S,
        f"longest {longest} s (per kill: {per_kill})",
    )
    return result


async def killed_mid_command(suite: Suite) -> ScenarioResult:
    """SIGKILL of a service while one of its HTTP commands is in flight (the request sent,
    no answer yet), then a restart. Each such command either happened completely (its state
    and its one event) or not at all: the reconciliation resolves each unanswered command from
    the service's state and finds its event by correlation id, so a command with state but no
    event counts as an event lost, and one with an event but no state as an event without its
    state change; both must be zero."""
    mode, stack, rng = suite.mode, suite.stack, suite.rng
    targets = [name for name in stack.services if suite.probes[name].stories]
    result = ScenarioResult(
        "killed_mid_command",
        f"2b. kill -9 mid-command ({mode.kills_per_producer} per service with commands)",
    )
    if not targets:
        result.skip("kill mid-command", "no service has commands in the load")
        return result
    load = suite.new_load()
    await load.start()
    watch = suite.watch()
    await asyncio.sleep(mode.warmup_s)
    windows: list[tuple[float, float]] = []
    in_flight: list[str] = []
    failures: list[str] = []
    for name in targets:
        for _ in range(mode.kills_per_producer):
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            # Wait for a write to this service that is on the wire with no answer yet.
            deadline = time.monotonic() + 30
            caught = None
            while time.monotonic() < deadline and caught is None:
                caught = next(
                    (
                        c
                        for c in reversed(load.ledger.commands)
                        if c.service == name and c.action != "read" and c.ended == 0.0
                    ),
                    None,
                )
                if caught is None:
                    await asyncio.sleep(0.002)
            process = stack.services[name]
            began = time.time()
            # No await between finding the command unanswered and the kill: the harness
            # cannot have read its answer in between, so it was on the wire at the kill.
            process.send_kill9()
            if caught is not None:
                in_flight.append(caught.correlation_id)
            assert process.process is not None
            await asyncio.to_thread(process.process.wait, 10)
            process.start()
            windows.append((began, time.time()))
            try:
                await stack.wait_ready(name)
            except (TimeoutError, RuntimeError) as error:
                failures.append(f"{name}: {error}")
    await asyncio.sleep(mode.after_s)
    result.zero("restarts that did not become ready", failures)
    result.check(
        "a kill fell while a command was in flight",
        bool(in_flight),
        f"{len(in_flight)} of {len(windows)} kills",
    )
    rec = await suite.conclude(result, load, windows, watch)
    by_id = {c.correlation_id: c for c in load.ledger.commands}
    outcomes = {"answered": 0, "happened": 0, "did not happen": 0}
    for correlation_id in in_flight:
        command = by_id[correlation_id]
        if command.status is not None and command.status != 503:
            outcomes["answered"] += 1
        else:
            outcomes["happened" if command.happened else "did not happen"] += 1
    result.figures["commands_in_flight_at_kill"] = outcomes
    result.figures["in_flight_half_written"] = len(rec.events_lost) + len(rec.events_phantom)
    return result


@dataclass
class ReadinessWatch:
    """Polls every service's /health/ready until stopped, remembering what it saw."""

    suite: Suite
    seen: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._poll(name)) for name in self.suite.stack.services]

    async def _poll(self, service: str) -> None:
        url = f"{self.suite.stack.url(service)}/health/ready"
        seen = self.seen.setdefault(service, [])
        while not self._stop.is_set():
            try:
                status = (await self.suite.client.get(url, timeout=1.0)).status_code
            except httpx.HTTPError:
                status = 0
            seen.append((time.time(), status))
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def not_ready_between(self, service: str, start: float, end: float) -> bool:
        return any(start <= t <= end and status != 200 for t, status in self.seen[service])

    def ready_after(self, service: str, moment: float) -> float | None:
        for t, status in self.seen[service]:
            if t >= moment and status == 200:
                return t - moment
        return None


async def database_restart(suite: Suite) -> ScenarioResult:
    mode, stack, rng = suite.mode, suite.stack, suite.rng
    assert stack.postgres is not None
    result = ScenarioResult(
        "database_restart", f"3. PostgreSQL restart ({mode.db_restarts}x, every service's db)"
    )
    load = suite.new_load()
    await load.start()
    watch = suite.watch()
    await asyncio.sleep(mode.warmup_s)
    windows: list[tuple[float, float]] = []
    not_ready: dict[str, list[bool]] = {name: [] for name in stack.services}
    back: dict[str, list[float | None]] = {name: [] for name in stack.services}
    for _ in range(mode.db_restarts):
        readiness = ReadinessWatch(suite)
        readiness.start()
        await asyncio.sleep(rng.uniform(0.5, 2.0))
        start = time.time()
        await asyncio.to_thread(stack.postgres.restart)
        end = time.time()
        # Keep watching until every service reports ready again (bounded). The state lives
        # in other processes, so it is polled.
        for _ in range(300):
            if all(readiness.ready_after(name, end) is not None for name in stack.services):
                break
            await asyncio.sleep(0.2)
        await readiness.stop()
        windows.append((start, end))
        for name in stack.services:
            not_ready[name].append(readiness.not_ready_between(name, start, end + 0.5))
            seconds = readiness.ready_after(name, end)
            back[name].append(round(seconds, 2) if seconds is not None else None)
    await asyncio.sleep(mode.after_s)
    for name in stack.services:
        result.check(
            f"{name}: /health/ready said not-ready during each restart",
            all(not_ready[name]),
            f"not-ready seen: {not_ready[name]}",
        )
        result.check(
            f"{name}: ready again after each restart",
            all(s is not None for s in back[name]),
            f"seconds to ready: {back[name]}",
        )
    result.figures["restart_windows_s"] = [round(e - s, 2) for s, e in windows]
    result.figures["seconds_to_ready_after_restart"] = back
    unavailable = [c for c in load.ledger.commands if c.status == 503 or c.status is None]
    result.figures["commands_answered_503_or_dropped"] = len(unavailable)
    await suite.conclude(result, load, windows, watch)
    return result


# The consumer metric's outcomes, named for the report so that nobody (and no script) reads a
# redelivery the inbox recognised and skipped as a duplicated effect: "duplicate" in the kit's
# metric means "seen before, nothing done", the opposite of an effect applied twice.
REPORTED_OUTCOMES = {
    "handled": "handled",
    "duplicate": "redelivered_ignored",
    "ignored": "not_reacted_to",
    "dead-lettered": "dead_lettered",
}


def consumed_counts(text: str, consumer: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, outcome, _topic, value in CONSUMED_METRIC.findall(text):
        if name == consumer:
            key = REPORTED_OUTCOMES.get(outcome, outcome)
            counts[key] = counts.get(key, 0) + int(float(value))
    return counts


async def replay(suite: Suite) -> ScenarioResult:
    """Each consumer group is reset to the earliest offset (service stopped, offsets
    committed at the beginning, service started): every event it ever handled arrives again,
    and not one effect may repeat, here or in any earlier scenario's ledger."""
    stack = suite.stack
    result = ScenarioResult("replay", "4. Replay from the earliest offset")
    if not suite.consumers:
        result.skip("replay", "no service consumes events")
        return result
    load = suite.new_load()
    await load.start()
    watch = suite.watch()
    await asyncio.sleep(suite.mode.warmup_s)
    windows: list[tuple[float, float]] = []
    sampled = suite.sampled_consumers()
    result.figures["groups_not_replayed_in_this_mode"] = sorted(set(suite.consumers) - set(sampled))
    for group in sampled:
        topics = suite.consumers[group]
        ends = sum((await end_offsets(stack.bootstrap, topics)).values())
        start = time.time()
        await asyncio.to_thread(stack.services[group].stop)
        reset = await reset_group_to_earliest(stack.bootstrap, group, topics)
        lag_after_reset = sum((await group_lag(stack.bootstrap, group, topics)).values())
        stack.services[group].start()
        end = time.time()
        windows.append((start, end))
        await stack.wait_ready(group)
        replay_s = None
        deadline = time.monotonic() + suite.mode.settle_timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if sum((await group_lag(stack.bootstrap, group, topics)).values()) == 0:
                    replay_s = time.time() - end
                    break
            await asyncio.sleep(0.5)
        text = (await suite.client.get(f"{stack.url(group)}/metrics")).text
        counts = consumed_counts(text, group)
        seen = sum(counts.values())
        result.check(
            f"{group}: group reset to the earliest offset",
            reset > 0 and lag_after_reset >= ends,
            f"{reset} partitions; lag after reset {lag_after_reset} of {ends} records",
        )
        result.check(
            f"{group}: every record was consumed again",
            replay_s is not None and seen >= ends,
            f"{seen} consumed since restart ({counts}) of {ends} on the topics",
        )
        result.figures[f"{group}_replayed"] = {
            "records_before_reset": ends,
            "consumed_after_reset": counts,
            "redelivered_ignored": counts.get("redelivered_ignored", 0),
            "seconds_to_lag_0": round(replay_s, 1) if replay_s is not None else None,
        }
    result.figures["redelivered_ignored"] = sum(
        int(figures.get("redelivered_ignored", 0))
        for key, figures in result.figures.items()
        if key.endswith("_replayed") and isinstance(figures, dict)
    )
    await suite.conclude(result, load, windows, watch)
    # Every scenario's commands so far: the replay must not have repeated any of their effects.
    everything = await reconcile(stack, suite.client, suite.ledgers, suite.probes)
    result.figures["whole_run"] = {
        k: v
        for k, v in everything.summary().items()
        if k.startswith(("events", "effects", "commands", "read_model"))
    }
    result.zero(
        "effects duplicated across the whole run after replay", everything.effects_duplicated
    )
    result.zero("effects lost across the whole run", everything.effects_lost)
    result.zero("events lost across the whole run", everything.events_lost)
    return result
