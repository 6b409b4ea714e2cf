"""Scenario 5: poison messages on every subscribed topic, under load.

For each topic some service consumes, the suite publishes: malformed JSON, a JSON value that
fails the schema, an unknown event type, an unknown major version, a message without a
CloudEvents header, a 1 MB payload, and a schema-valid event that breaks a domain rule of
its contract (``Event.broken_rule``). Each carries a marker header, which the kit copies onto
the dead letter, so every (message, consumer group) pair can be found in ``<topic>.dlq`` with its
reason. Meanwhile the load goes on, and its reconciliation proves the consumers never stopped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from contracts import ALL_EVENTS
from contracts.base import Event, dead_letter_topic
from contracts.catalogue import RecordsAvailable
from contracts.membership import Library, LibraryNames, MemberLeft
from contracts.outreach import CampaignSent
from contracts.procurement import AgreementPeriod, AgreementSigned, Supplier
from contracts.usage import InvoiceDiscrepancyFound
from reliability.kafka import RawMessage, group_lag, produce, read_topics
from reliability.probes import handled_types
from reliability.report import ScenarioResult
from reliability.suite import Suite

MARKER = "x-reliability-poison"
ONE_MB = 1024 * 1024
DLQ_HEADERS = (
    "dlq_original_topic",
    "dlq_original_partition",
    "dlq_original_offset",
    "dlq_consumer_group",
    "dlq_exception_class",
    "dlq_exception_message",
    "dlq_attempts",
)


@dataclass(frozen=True)
class Poison:
    marker: str
    kind: str
    topic: str
    groups: frozenset[str]  # consumer groups that must dead-letter it
    reason: str  # words the dead letter's reason must contain
    message: RawMessage


def _headers(ce_type: str, marker: str, *, drop: str | None = None) -> list[tuple[str, bytes]]:
    headers = {
        "ce_id": f"poison-{marker}",
        # The producing service's own source: the poison stands for a producer's bug, so the
        # consumer's check under test is the one for that bug, not the foreign-source check.
        "ce_source": f"/konsortio/{ce_type.split('.')[2]}" if ce_type.count(".") >= 3 else "/",
        "ce_type": ce_type,
        "ce_specversion": "1.0",
        "ce_time": "2026-01-01T00:00:00Z",
        "content-type": "application/json",
        MARKER: marker,
    }
    headers.pop(drop or "", None)
    return [(name, value.encode()) for name, value in headers.items()]


def broken_rule_events(tag: str) -> dict[str, Event]:
    """Per topic, one schema-valid event that breaks a rule of its contract. Fresh ids, so a
    consumer that (wrongly) applied one would touch nothing the load made."""
    library = Library(
        isil=f"FI-P{tag[:8]}",
        names=LibraryNames(fi="Myrkkykirjasto"),
        municipalities=["091"],
        population=1,
        library_system="Koha",
    )
    supplier = Supplier(name="Poison Oy", country="FI")
    events: list[Event] = [
        MemberLeft(
            library=library,
            effective_date=dt.date(2020, 1, 1),
            period=1,
            joined_on=dt.date(2024, 1, 1),
        ),
        AgreementSigned(
            agreement_id=f"poison-{tag}",
            tender_id=f"poison-{tag}",
            title="Poison",
            supplier=supplier,
            product="Poison",
            material_types=["e-book"],
            licence_terms={},
            periods=[AgreementPeriod(start=dt.date(2027, 1, 1), end=dt.date(2026, 1, 1))],
            extension_options=0,
            annual_cost_cents=0,
            cost_share_model="equal",
            signed_on=dt.date(2026, 1, 1),
        ),
        RecordsAvailable(
            isil=library.isil,
            collection_id=f"poison-{tag}",
            agreement_id=None,
            title="Poison",
            count=0,
            reason="titles-added",
        ),
        CampaignSent(
            campaign_id=f"poison-{tag}",
            title="Poison",
            audience="all",
            recipients=1,
            sent=2,
            failed=0,
            finished_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        ),
    ]
    events.append(
        InvoiceDiscrepancyFound(
            agreement_id=f"poison-{tag}",
            isil=library.isil,
            period_from="2026-01",
            period_to="2026-01",
            loans=1,
            price_per_loan_cents=100,
            expected_cents=100,
            invoiced_cents=500,
            difference_cents=1,
            tolerance_cents=0,
        )
    )
    for event in events:
        assert event.broken_rule(), f"{event.name} breaks no rule"
    return {event.topic(): event for event in events}


def build(consumers: Mapping[str, list[str]]) -> list[Poison]:
    """The poison for every consumed topic."""
    by_topic: dict[str, set[str]] = {}
    for group, topics in consumers.items():
        for topic in topics:
            by_topic.setdefault(topic, set()).add(group)
    handles = {group: set(handled_types(group)) for group in consumers}
    poison: list[Poison] = []

    def add(
        kind: str,
        topic: str,
        groups: set[str],
        reason: str,
        ce_type: str,
        value: bytes,
        drop: str | None = None,
    ) -> None:
        marker = f"{kind}-{uuid.uuid4().hex[:12]}"
        message = RawMessage(
            topic, f"poison-{marker}".encode(), _headers(ce_type, marker, drop=drop), value
        )
        poison.append(Poison(marker, kind, topic, frozenset(groups), reason, message))

    for topic, groups in sorted(by_topic.items()):
        models = [m for m in ALL_EVENTS if m.topic() == topic]
        producer = models[0].producer
        known = models[0].ce_type()
        add("malformed-json", topic, groups, "malformed JSON", known, b'{"library": {"isil": ')
        add(
            "unknown-type",
            topic,
            groups,
            "unknown event type",
            f"fi.konsortio.{producer}.something-unheard-of.v1",
            b"{}",
        )
        add(
            "unknown-major-version",
            topic,
            groups,
            "unknown event type or version",
            known.rsplit(".v", 1)[0] + ".v99",
            b"{}",
        )
        add(
            "missing-cloudevents-header",
            topic,
            groups,
            "missing CloudEvents header",
            known,
            b"{}",
            drop="ce_id",
        )
        # Schema-invalid payloads only reach validation in groups that handle the type, so
        # one per type the groups handle.
        for ce_type in sorted(
            {t for g in groups for t in handles[g] if t in {m.ce_type() for m in models}}
        ):
            takers = {g for g in groups if ce_type in handles[g]}
            add(
                "schema-invalid",
                topic,
                takers,
                "ValidationError",
                ce_type,
                json.dumps({"unexpected": True, "library": {"isil": 5}}).encode(),
            )
            add(
                "one-megabyte",
                topic,
                takers,
                "ValidationError",
                ce_type,
                json.dumps({"padding": "x" * ONE_MB}).encode(),
            )
        rule_breaker = broken_rule_events(uuid.uuid4().hex[:12]).get(topic)
        takers = {g for g in groups if rule_breaker and rule_breaker.ce_type() in handles[g]}
        if rule_breaker is not None and takers:
            add(
                "business-rule",
                topic,
                takers,
                "BrokenRule",
                rule_breaker.ce_type(),
                rule_breaker.model_dump_json().encode(),
            )
    return poison


@dataclass
class Found:
    letters: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    sizes: dict[tuple[str, str], int] = field(default_factory=dict)


async def dead_letters(bootstrap: str, topics: list[str]) -> Found:
    found = Found()
    for record in await read_topics(bootstrap, [dead_letter_topic(t) for t in topics]):
        marker = record.header(MARKER)
        group = record.header("dlq_consumer_group")
        if marker and group:
            key = (marker, group)
            found.letters[key] = {k: v.decode(errors="replace") for k, v in record.headers.items()}
            found.sizes[key] = len(record.value)
    return found


async def poison_messages(suite: Suite) -> ScenarioResult:
    stack = suite.stack
    result = ScenarioResult("poison", "5. Poison messages")
    if not suite.consumers:
        result.skip("poison", "no service consumes events")
        return result
    poison = build(suite.consumers)
    topics = sorted({p.topic for p in poison})
    load = suite.new_load()
    await load.start()
    watch = suite.watch()
    await asyncio.sleep(suite.mode.warmup_s)
    sent_at = time.time()
    await produce(stack.bootstrap, [p.message for p in poison])
    expected = {(p.marker, g): p for p in poison for g in p.groups}

    found = Found()
    deadline = time.monotonic() + suite.mode.settle_timeout_s
    while time.monotonic() < deadline:
        found = await dead_letters(stack.bootstrap, topics)
        if set(expected) <= set(found.letters):
            break
        await asyncio.sleep(1.0)
    dlq_s = time.time() - sent_at
    await asyncio.sleep(suite.mode.after_s)

    missing, wrong = [], []
    for (marker, group), item in sorted(expected.items()):
        letter = found.letters.get((marker, group))
        label = f"{item.kind} on {item.topic} for {group}"
        if letter is None:
            missing.append(label)
            continue
        absent = [h for h in DLQ_HEADERS if not letter.get(h)]
        reason = f"{letter.get('dlq_exception_class')}: {letter.get('dlq_exception_message')}"
        problems = []
        if absent:
            problems.append(f"headers missing {absent}")
        if letter.get("dlq_original_topic") != item.topic:
            problems.append(f"original topic {letter.get('dlq_original_topic')}")
        if item.reason not in reason:
            problems.append(f"reason {reason[:120]!r} lacks {item.reason!r}")
        if item.kind == "one-megabyte" and "dlq_value_truncated_from" not in letter:
            problems.append(f"1 MB value kept whole ({found.sizes[(marker, group)]} bytes)")
        if problems:
            wrong.append(f"{label}: {'; '.join(problems)}")

    kinds = sorted({p.kind for p in poison})
    per_group = {
        group: sorted({p.kind for p in poison if group in p.groups}) for group in suite.consumers
    }
    extra = sorted(set(found.letters) - set(expected))
    result.zero("poison messages missing from the DLQ", missing)
    result.zero("dead letters without their full reason", wrong)
    result.check(
        "every poison kind was sent",
        {
            "malformed-json",
            "schema-invalid",
            "unknown-type",
            "unknown-major-version",
            "missing-cloudevents-header",
            "one-megabyte",
            "business-rule",
        }
        <= set(kinds),
        f"kinds: {kinds}",
    )
    lags = {}
    for group, topics_of_group in suite.consumers.items():
        lags[group] = sum((await group_lag(stack.bootstrap, group, topics_of_group)).values())
    result.figures.update(
        {
            "poison_sent": len(poison),
            "dlq_entries_expected": len(expected),
            "dlq_entries": len(set(found.letters) & set(expected)),
            "dlq_entries_extra": len(extra),
            "poison_kinds": kinds,
            "poison_kinds_per_group": per_group,
            "seconds_until_all_dead_lettered": round(dlq_s, 1),
            "summary": f"{len(set(found.letters) & set(expected))}/{len(expected)} in DLQ",
        }
    )
    await suite.conclude(result, load, [(sent_at, sent_at)], watch)
    result.figures["lag_after"] = lags
    return result
