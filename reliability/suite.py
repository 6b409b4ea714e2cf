"""The suite: one stack, a mode (quick or full), and what every fault scenario shares: a
fresh load per scenario, the settle-and-reconcile step, and the checks every scenario makes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from reliability.ledger import Ledger
from reliability.load import Load
from reliability.probes import consumed_topics, probe_for
from reliability.probes.base import AuthzContext, Probe
from reliability.reconcile import Progress, Reconciliation, Watch, reconcile, settle
from reliability.report import ScenarioResult
from reliability.stack import Stack


@dataclass(frozen=True)
class Mode:
    name: str
    rate: float  # commands per second of the steady load
    actors: int
    warmup_s: float  # load before a fault
    after_s: float  # load after a fault
    broker_down_s: float
    kills_per_consumer: int
    kills_per_producer: int
    # How many consumer services get killed and replayed (None: every one). A kill -9 of a
    # consumer costs 20-45 s on Tansu (the dead member's session must expire before the
    # group rebalances), so the quick mode samples one, chosen by the seed.
    consumers_sampled: int | None
    db_restarts: int
    schemathesis_examples: int
    schemathesis_phases: str
    settle_timeout_s: float
    upload_limit_probe: bool  # send bodies past the upload limit (tens of MB)
    # SIGKILLs of the catalogue in the middle of a large ingest. None in the quick run: each
    # costs a 20,000-record file and a restart of the catalogue (10-35 s on two busy cores),
    # which would grow make test by a minute; the quick run's random kills can hit the
    # catalogue too, and tests/integration/catalogue fails a dead owner's batch in-process.
    ingest_kills: int = 0


QUICK = Mode(
    name="quick",
    rate=8,
    actors=4,
    warmup_s=2,
    after_s=2,
    broker_down_s=8,
    kills_per_consumer=1,
    kills_per_producer=1,
    consumers_sampled=1,
    db_restarts=1,
    schemathesis_examples=5,
    schemathesis_phases="examples,fuzzing",
    settle_timeout_s=90,
    upload_limit_probe=False,
    ingest_kills=0,
)
FULL = Mode(
    name="full",
    rate=15,
    actors=8,
    warmup_s=5,
    after_s=5,
    broker_down_s=30,
    kills_per_consumer=10,
    kills_per_producer=3,
    consumers_sampled=None,
    db_restarts=3,
    schemathesis_examples=300,
    schemathesis_phases="examples,coverage,fuzzing",
    settle_timeout_s=180,
    upload_limit_probe=True,
    ingest_kills=3,
)


@dataclass
class Suite:
    stack: Stack
    mode: Mode
    client: httpx.AsyncClient
    rng: random.Random
    probes: dict[str, Probe] = field(default_factory=dict)
    consumers: dict[str, list[str]] = field(default_factory=dict)  # group -> topics
    ledgers: list[Ledger] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # passed from one scenario to a later one
    _authz: AuthzContext | None = None

    @classmethod
    def create(cls, stack: Stack, mode: Mode, client: httpx.AsyncClient, seed: int) -> Suite:
        suite = cls(stack=stack, mode=mode, client=client, rng=random.Random(seed))
        for service in stack.services:
            suite.probes[service] = probe_for(service)
            topics = consumed_topics(service)
            if topics:
                # The kit's group is the service's name unless KONSORTIO_CONSUMER_GROUP says
                # otherwise, which the launcher never sets.
                suite.consumers[service] = topics
        return suite

    async def authz_context(self, *, fresh: bool = False) -> AuthzContext:
        """The libraries the authorization matrix and the bad-input probes act on, made
        through the APIs by every probe that needs fixtures; once, or anew with ``fresh``."""
        if self._authz is None or fresh:
            tag = uuid.uuid4().hex[:4]
            ctx = AuthzContext(
                stack=self.stack,
                client=self.client,
                own_isil=f"FI-A{tag}own",
                other_isil=f"FI-A{tag}oth",
                run_tag=tag,
                today=dt.date.today(),
            )
            for probe in self.probes.values():
                if probe.prepare_authz is not None:
                    await probe.prepare_authz(ctx)
            self._authz = ctx
        return self._authz

    def sampled_consumers(self) -> list[str]:
        """The consumer services a kill or a replay covers in this mode."""
        names = sorted(self.consumers)
        if self.mode.consumers_sampled is None or len(names) <= self.mode.consumers_sampled:
            return names
        return sorted(self.rng.sample(names, self.mode.consumers_sampled))

    def watch(self) -> Watch:
        watch = Watch(self.stack, self.client, self.consumers)
        watch.start()
        return watch

    def new_load(self) -> Load:
        stories = [story for probe in self.probes.values() for story in probe.stories]
        return Load(
            stack=self.stack,
            stories=stories,
            rate=self.mode.rate,
            actors=self.mode.actors,
            seed=self.rng.randrange(2**31),
        )

    async def settle(self):
        return await settle(
            self.stack, self.client, self.consumers, self.probes, self.mode.settle_timeout_s
        )

    async def conclude(
        self,
        result: ScenarioResult,
        load: Load,
        windows: list[tuple[float, float]],
        watch: Watch | None = None,
        own_catch_ups: list[float | None] | None = None,
    ) -> Reconciliation:
        """Stop the load, wait for everything to catch up, reconcile, and check the
        promises every scenario keeps. The catch-up time after each fault is the later of:
        every consumer at lag 0 and every outbox empty (from ``watch``, or the settle after
        the load stopped), and the last effect of a command made before the fault ended.
        A scenario that measured each fault's catch-up on the faulted service itself passes
        ``own_catch_ups`` (one per window), used instead of the whole system's lag."""
        await load.stop()
        settle_s, state = await self.settle()
        settled_at = time.time()
        if watch is not None:
            await watch.stop()
        result.check(
            "every consumer caught up (lag 0, outbox backlog 0, no pending work)",
            settle_s is not None,
            f"after {settle_s:.1f} s" if settle_s is not None else state.describe(),
        )
        if state.behind:
            # Tansu, not Konsortio: records past the reported end are still served (the
            # reconciliation reads past it and finds them), so nothing is lost; but lag
            # monitoring that trusts ListOffsets, the dashboard's included, is wrong here.
            result.note(
                "embedded broker: end offset reported below a committed offset",
                f"{state.behind}",
            )
        result.figures["broker_end_offset_below_committed"] = state.behind
        if settle_s is None:
            await self.heal(result, state)
        rec = await reconcile(self.stack, self.client, [load.ledger], self.probes)
        self.ledgers.append(load.ledger)
        catch_ups: list[Any] = []
        for index, (_, end) in enumerate(windows):
            if own_catch_ups is not None:
                by_lag = own_catch_ups[index]
                if by_lag is None:
                    catch_ups.append(None)
                    continue
            else:
                by_lag = watch.caught_up_after(end) if watch is not None else None
            if by_lag is None:
                by_lag = round(settled_at - end, 2) if settle_s is not None else None
            by_effect = rec.catch_up_after(end)
            catch_ups.append(None if by_lag is None else max(by_lag, by_effect))
        duration = max(load.stopped - load.started, 1e-6)
        result.figures.update(rec.summary())
        result.figures.update(
            {
                "load_commands": len(load.ledger.commands),
                "load_rate_per_s": round(len(load.ledger.commands) / duration, 1),
                "faults": len(windows),
                "catch_up_s": catch_ups,
                "longest_catch_up_s": max((c for c in catch_ups if c is not None), default=None),
                "longest_command_to_effect_s": rec.longest_delay(),
                "settle_s": round(settle_s, 1) if settle_s is not None else None,
                "examples": rec.examples(),
            }
        )
        result.zero("events lost", rec.events_lost)
        result.zero("effects lost", rec.effects_lost)
        result.zero("events duplicated (two event ids for one command)", rec.events_duplicated)
        result.zero("effects duplicated", rec.effects_duplicated)
        result.zero("events without their state change", rec.events_phantom)
        result.zero("events of the wrong type or key", rec.events_wrong)
        result.zero("read models disagreeing with their source", rec.read_model_mismatches)
        result.zero("5xx answers other than 503 to the load", rec.server_errors)
        result.zero("4xx answers to valid commands", rec.unexpected_rejections)
        result.zero("harness story errors", load.story_errors)
        self.check_crashes(result)
        await load.close()
        return rec

    async def heal(self, result: ScenarioResult, state: Progress) -> None:
        """A service that did not catch up is restarted (gracefully) so that later scenarios
        measure their own faults, not this one's leftovers. The failed check above stays;
        the figures say who was restarted and whether that helped, which tells a stuck
        component (recovers on restart) from lost data (does not)."""
        stuck = sorted(
            {
                name
                for part in (state.backlog, state.pending, state.lag)
                for name, v in part.items()
                if v
            }
        )
        for name in stuck:
            with contextlib.suppress(TimeoutError, RuntimeError):
                await self.stack.restart_service(name)
        settle_s, after = await self.settle()
        result.figures["healed_by_restarting"] = stuck
        result.figures["caught_up_after_restart_s"] = (
            round(settle_s, 1) if settle_s is not None else after.describe()
        )

    def check_crashes(self, result: ScenarioResult) -> None:
        crashes = self.stack.check_crashes()
        for name in crashes:
            # Keep the suite going: a crashed service is restarted and the crash reported.
            service = name.split(":", 1)[0]
            self.stack.services[service].start()
        result.zero("service processes that exited by themselves", crashes)


Scenario = Callable[[Suite], Awaitable[ScenarioResult]]
