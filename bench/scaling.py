"""Benchmark 7, scaling curve: the consumer side with 1, 2 and 4 consumer processes (replicas of
one service, one consumer group, one database) on a topic of as many partitions.

N membership events are produced onto the topic as fast as the broker takes them (the
service side's own limit is benchmark 1), while the replicas consume them on the kit's batch
path; the figure is N / (last effect committed − first record sent).

Each point gets a fresh Tansu broker: Tansu 0.6 cannot add partitions to a topic
(CreatePartitions is not implemented) and the contracts fix the topic's name, so 1, 2 and 4
partitions of ``konsortio.membership`` cannot live on one broker. PostgreSQL stays the run's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from bench.cpu import CpuMeter
from bench.infra import BenchInfra, create_topic
from bench.payloads import effect_counts
from bench.procs import Child, children
from bench.report import Row
from contracts.base import dead_letter_topic
from contracts.membership import MemberJoined
from konsortio.stack import EmbeddedBroker, free_port, wait_until

POINTS = (1, 2, 4)


async def _group_settled(bootstrap: str, group: str, members: int) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_consumer_groups([group])
        [(_error, _name, state, _ptype, _protocol, found)] = described.groups
        return state == "Stable" and len(found) == members
    except (ValueError, TypeError):
        return False
    finally:
        await admin.close()


async def _point(infra: BenchInfra, replicas: int, n: int, progress: Any) -> dict[str, Any]:
    broker = EmbeddedBroker(free_port(), log_path=infra.path("logs") / f"broker-{replicas}.log")
    await asyncio.to_thread(broker.start)
    try:
        topic = MemberJoined.topic()
        await create_topic(broker.bootstrap, topic, replicas)
        await create_topic(broker.bootstrap, dead_letter_topic(topic), replicas)
        dsn = await infra.new_database(f"bench_scaling_{replicas}")
        group = f"bench-scaling-{uuid.uuid4().hex[:6]}"
        logs = infra.path("logs")
        consumers = [
            await Child.start(
                "pipeline-consumer",
                {"bootstrap": broker.bootstrap, "dsn": dsn, "group": group, "max_records": 2000},
                logs,
            )
            for _ in range(replicas)
        ]
        producer = await Child.start(
            "raw-produce",
            {"bootstrap": broker.bootstrap, "topic": topic, "n": n, "run": f"S{replicas}"},
            logs,
        )
        async with children(producer, *consumers):
            for consumer in consumers:
                await consumer.expect("ready", 120)
            await wait_until(
                lambda: _group_settled(broker.bootstrap, group, replicas),
                timeout_s=60,
                interval_s=0.5,
            )
            await producer.expect("ready", 60)
            meter = CpuMeter(
                infra.postgres.data_dir, broker.process.pid if broker.process else None
            )
            for number, consumer in enumerate(consumers):
                meter.watch(f"consumer-{number}", consumer.pid)
            meter.watch("producer", producer.pid)
            before, clock = meter.sample(), time.monotonic()
            producer.send("go")
            key = f"scaling: {replicas} consumer(s)"

            def handled() -> int:
                return sum(int(c.progress.get("handled", 0)) for c in consumers)

            deadline = time.monotonic() + 180
            while handled() < n and time.monotonic() < deadline:
                progress(key, handled(), n)
                await asyncio.sleep(0.2)
            progress(key, handled(), n)
            cpu = meter.since(before, meter.sample(), time.monotonic() - clock)
            produced = await producer.expect("done", 60)
            for consumer in consumers:
                consumer.send("stop")
            for consumer in consumers:
                with contextlib.suppress(Exception):
                    await consumer.expect("done", 60)
        conn = await asyncpg.connect(dsn)
        try:
            rows, distinct = await effect_counts(conn)
            last = await conn.fetchval(
                "SELECT max(pg_xact_commit_timestamp(xmin)) FROM bench_effects"
            )
        finally:
            await conn.close()
    finally:
        await asyncio.to_thread(broker.stop)
    seconds = last.timestamp() - produced["started"] if last else float("nan")
    return {
        "consumers": replicas,
        "partitions": replicas,
        "events": n,
        "effects": rows,
        "lost": n - distinct,
        "duplicated": rows - distinct,
        "seconds": round(seconds, 3),
        "per_s": round(n / seconds) if last else None,
        "cpu_cores": cpu,
    }


async def run(infra: BenchInfra, n: int, progress: Any) -> dict[str, Any]:
    points = [await _point(infra, replicas, n, progress) for replicas in POINTS]
    base = points[0]["per_s"] or 1
    for point in points:
        point["speedup"] = round((point["per_s"] or 0) / base, 2)
    return {"points": points, "bend": bend(points)}


def bend(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Where the curve bends (the first point that gains under 3/4 of linear) and why, read
    from the CPU the point used: on 2 cores, consumers share them with PostgreSQL, the broker
    and the producer, so once those are busy another process only divides the same time."""
    for point in points[1:]:
        if point["speedup"] >= 0.75 * point["consumers"]:
            continue
        cpu = point["cpu_cores"]
        ours = sum(v for k, v in cpu.items() if k != "others")
        busy = ours + cpu.get("others", 0)
        consumers = sum(v for k, v in cpu.items() if k.startswith("consumer"))
        why = (
            f"the machine's {busy:.2f} of 2 cores were busy ({consumers:.2f} in the consumers, "
            f"{ours - consumers:.2f} in PostgreSQL, the broker and the producer, "
            f"{cpu.get('others', 0):.2f} in other work): CPU-bound, more processes only "
            "share the same cores"
            if busy >= 1.6
            else f"only {busy:.2f} of 2 cores were busy: bound by waiting (broker round trips, "
            "commits), not by CPU"
        )
        return {"at_consumers": point["consumers"], "speedup": point["speedup"], "why": why}
    return {"at_consumers": None, "why": "no bend: every point gained at least 3/4 of linear"}


def rows(result: dict[str, Any]) -> list[Row]:
    out = []
    for point in result["points"]:
        busy = sum(v for k, v in point["cpu_cores"].items() if k != "others")
        out.append(
            Row(
                benchmark="7 scaling",
                figure=(
                    f"{point['consumers']} consumer process(es), {point['partitions']} "
                    f"partition(s): effects/s"
                ),
                value=point["per_s"],
                unit="/s",
                reference="1 consumer" if point["consumers"] > 1 else "",
                reference_value=result["points"][0]["per_s"] if point["consumers"] > 1 else None,
                ratio=point["speedup"] if point["consumers"] > 1 else None,
                met=(point["lost"] == 0 and point["duplicated"] == 0) or None,
                note=(
                    f"lost {point['lost']} · duplicated {point['duplicated']} · "
                    f"benchmark processes busy {busy:.2f} of 2 cores, others "
                    f"{point['cpu_cores'].get('others', 0):.2f}"
                    + (
                        f" · the curve bends here: {result['bend']['why']}"
                        if result.get("bend", {}).get("at_consumers") == point["consumers"]
                        else ""
                    )
                ),
            )
        )
    return out
