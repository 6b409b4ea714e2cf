"""Faults users cause with supplier title lists, against the running stack through the
catalogue's HTTP API and the events it publishes on ``konsortio.catalogue``:

- a file cut off mid-transfer (ONIX 3.0, MARCXML, ISO 2709 MARC, KBART), loaded in full-load
  mode and in add-only (delta) mode: nothing is withdrawn, no record changes, and the break is
  a finding; the full load fails as a whole and publishes nothing;
- the same file delivered again (each format, and an ONIX file in which two products share
  an identifier): nothing changes, no datestamp moves, and no event but the batch's own
  ``titles-ingested`` (all unchanged) is published;
- the catalogue SIGKILLed in the middle of an ingest: after the restart the batch is failed
  (or finished), never left ``processing``; the collection holds all of the batch's records
  or none of them; the collection is not blocked for the next upload.

The first two are cheap (a few dozen small uploads, no restart) and run in the quick run too;
the kill needs a file large enough to be caught mid-ingest and a restart of the catalogue
(10-35 s on two busy cores), so it runs only in the full run. The quick run's random kills
can
already hit the catalogue, and tests/integration/catalogue covers a dead batch owner
in-process.

Without an agreement the collections here have no participating library, so no
``records-available`` or ``records-withdrawn`` can follow from these batches; what a batch
withdraws shows in its counts, its ``titles-ingested`` and the records' ``deleted`` flags.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from pymarc.marcxml import record_to_xml

from bench.marc_generator import generate_record, isbn_for
from bench.onix_generator import generate as generate_onix
from kit.auth import Role
from reliability.faults import outbox_backlog
from reliability.kafka import end_offsets, read_topics
from reliability.report import ScenarioResult
from reliability.suite import Suite
from services.catalogue.formats.kbart import KBART_COLUMNS

TOPIC = "konsortio.catalogue"
TITLES = 30
FORMATS = ("onix", "marcxml", "marc", "kbart")
URL_TEMPLATE = "https://lainaa.example.fi/kirja/{isbn}"
UPLOAD_TIMEOUT_S = 180.0
# Records in the file the catalogue is killed in the middle of: enough for an ingest of many
# seconds on two busy cores (about 1,800 records/s on a quiet one), so a kill at a random
# moment of it finds the batch running.
KILL_FILE_RECORDS = 20_000
BASELINE_RECORDS = 200  # the collection's records before the killed batch
ORPHAN_BOUND_S = 90.0  # the start-up check, or the periodic one after it, fails an orphan


# --- the files -----------------------------------------------------------------------------------


def marc_records(start: int, count: int = TITLES, seed: int | None = None) -> list[Any]:
    """Generated e-book records numbered from ``start`` (the ISBN follows the number); another
    ``seed`` gives the same titles other content (titles, authors, years)."""
    rng = random.Random(start if seed is None else seed)
    return [generate_record(number, rng) for number in range(start, start + count)]


def marc_content(start: int, count: int = TITLES, seed: int | None = None) -> bytes:
    out = io.BytesIO()
    for record in marc_records(start, count, seed):
        out.write(record.as_marc())
    return out.getvalue()


def marcxml_content(start: int) -> bytes:
    body = b"".join(record_to_xml(r, namespace=True) for r in marc_records(start))
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<collection xmlns="http://www.loc.gov/MARC21/slim">' + body + b"</collection>\n"
    )


def onix_content(start: int) -> bytes:
    # The generator numbers its products from 0; each collection here is its own.
    return "".join(generate_onix(TITLES, seed=start % 1000)).encode()


def kbart_content(start: int) -> bytes:
    lines = ["\t".join(KBART_COLUMNS)]
    for number in range(start, start + TITLES):
        row = dict.fromkeys(KBART_COLUMNS, "")
        row.update(
            publication_title=f"Verkkokirja numero {number}",
            online_identifier=isbn_for(number),
            title_url=f"https://kbart.example.fi/title/{number}",
            first_author="Virtanen, Aino",
            title_id=f"k{number}",
            publisher_name="Kustannus Aalto",
            publication_type="monograph",
            date_monograph_published_online="2025",
            access_type="P",
        )
        lines.append("\t".join(row[c] for c in KBART_COLUMNS))
    return ("\n".join(lines) + "\n").encode()


def twin_products(start: int, titles: int = 5) -> bytes:
    """ONIX where every title comes as two products sharing one ISBN and record reference,
    differing in their title text (a supplier's feed that lists a title twice)."""

    def product(number: int, title: str) -> str:
        return f"""<Product><RecordReference>ref-{number}</RecordReference>
          <NotificationType>03</NotificationType>
          <ProductIdentifier><ProductIDType>15</ProductIDType>
            <IDValue>{isbn_for(number)}</IDValue></ProductIdentifier>
          <DescriptiveDetail><ProductComposition>00</ProductComposition>
            <ProductForm>EB</ProductForm><ProductFormDetail>E101</ProductFormDetail>
            <TitleDetail><TitleType>01</TitleType><TitleElement>
              <TitleElementLevel>01</TitleElementLevel><TitleText>{title}</TitleText>
            </TitleElement></TitleDetail>
            <Language><LanguageRole>01</LanguageRole><LanguageCode>fin</LanguageCode></Language>
          </DescriptiveDetail></Product>"""

    products = "".join(
        product(n, f"Talvi saaressa {n}") + product(n, f"Kesä saaressa {n}")
        for n in range(start, start + titles)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<ONIXMessage release="3.0" xmlns="http://ns.editeur.org/onix/3.0/reference">'
        f"{products}</ONIXMessage>"
    ).encode()


BUILDERS: dict[str, Callable[[int], bytes]] = {
    "onix": onix_content,
    "marcxml": marcxml_content,
    "marc": marc_content,
    "kbart": kbart_content,
}


def cut(content: bytes, fmt: str) -> bytes:
    """The first 60 % of a file, cut inside a record, as a broken transfer leaves it. (A cut
    exactly between two records of a line- or terminator-delimited format reads as a shorter
    list; the catalogue's withdrawal limit refuses it in collections of 100 titles or more,
    tested in tests/integration/catalogue/test_catalogue_full_load_safety.py.)"""
    at = len(content) * 6 // 10
    if fmt == "marc":
        while content[at - 1 : at] == b"\x1d":
            at += 7
    if fmt == "kbart":
        at = content.rindex(b"\n", 0, at) + 12  # inside a row's title
    return content[:at]


def params_for(fmt: str) -> dict[str, str]:
    if fmt == "kbart":
        return {"language": "fin"}
    if fmt == "onix":
        return {"url_template": URL_TEMPLATE}
    return {}


# --- the catalogue through its API -------------------------------------------------------------


class Catalogue:
    def __init__(self, suite: Suite) -> None:
        self.suite = suite
        self.url = suite.stack.url("catalogue")
        self.cataloguer = {"Authorization": f"Bearer {suite.stack.token(Role.CATALOGUER)}"}
        self.coordinator = {"Authorization": f"Bearer {suite.stack.token(Role.COORDINATOR)}"}

    async def new_collection(self, label: str) -> str:
        collection = f"rel-{label}-{uuid.uuid4().hex[:8]}"
        response = await self.suite.client.post(
            f"{self.url}/collections",
            json={"id": collection, "title": f"Luotettavuus {label}"},
            headers=self.cataloguer,
        )
        response.raise_for_status()
        return collection

    async def upload(
        self,
        collection: str,
        content: bytes,
        *,
        mode: str,
        wait: bool = True,
        extra: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        params = {"collection": collection, "mode": mode, "wait": str(wait).lower()}
        response = await self.suite.client.post(
            f"{self.url}/batches",
            params={**params, **(extra or {})},
            content=content,
            headers={**self.cataloguer, "Content-Type": "application/octet-stream"},
            timeout=UPLOAD_TIMEOUT_S,
        )
        if response.status_code not in (200, 202):
            raise RuntimeError(f"upload answered {response.status_code}: {response.text[:300]}")
        return response.json()

    async def batch(self, batch_id: str) -> dict[str, Any]:
        response = await self.suite.client.get(
            f"{self.url}/batches/{batch_id}", headers=self.coordinator
        )
        response.raise_for_status()
        return response.json()

    async def findings(self, batch_id: str) -> str:
        response = await self.suite.client.get(
            f"{self.url}/batches/{batch_id}/findings.csv", headers=self.coordinator, timeout=60
        )
        response.raise_for_status()
        return response.text

    async def records(self, collection: str) -> list[dict[str, Any]]:
        """Every record of the collection, withdrawn ones too, with its datestamp."""
        found: list[dict[str, Any]] = []
        while True:
            response = await self.suite.client.get(
                f"{self.url}/records",
                params={
                    "collection": collection,
                    "limit": 500,
                    "offset": len(found),
                    "include_deleted": "true",
                },
                headers=self.coordinator,
                timeout=60,
            )
            response.raise_for_status()
            page = response.json()
            found += page["items"]
            if not page["items"] or len(found) >= page["total"]:
                return sorted(found, key=lambda r: r["id"])

    async def record_total(self, collection: str) -> int:
        response = await self.suite.client.get(
            f"{self.url}/records",
            params={"collection": collection, "limit": 1, "include_deleted": "true"},
            headers=self.coordinator,
        )
        response.raise_for_status()
        return int(response.json()["total"])

    async def outbox_drained(self, timeout_s: float = 60.0) -> bool:
        """True once the catalogue's outbox holds nothing unsent: every event its batches
        recorded is on the broker, so "no event" read there means none was recorded."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await outbox_backlog(self.suite, "catalogue") == 0:
                return True
            await asyncio.sleep(0.3)
        return False

    async def mark(self) -> dict[Any, int]:
        return await end_offsets(self.suite.stack.bootstrap, [TOPIC])

    async def events(self, collection: str, since: dict[Any, int]) -> list[tuple[str, dict]]:
        """(event name, payload) of every catalogue event about ``collection`` published
        since the mark, oldest first per partition."""
        found = []
        for record in await read_topics(self.suite.stack.bootstrap, [TOPIC], since=since):
            try:
                payload = json.loads(record.value)
            except ValueError:
                continue
            if isinstance(payload, dict) and payload.get("collection_id") == collection:
                kind = record.header("ce_type") or ""
                found.append((kind.split(".")[-2] if "." in kind else kind, payload))
        return found


def comparable(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (r["id"], r["match_key"], r["deleted"], r["datestamp"], r["changed_batch"], r["title"])
        for r in records
    ]


def moved(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[str]:
    """What changed between two listings of a collection's records, as short descriptions."""
    old = {r["id"]: r for r in before}
    changes = [f"new record {r['id']} {r['match_key']}" for r in after if r["id"] not in old]
    for record in after:
        earlier = old.get(record["id"])
        if earlier is None:
            continue
        for name in ("deleted", "datestamp", "changed_batch", "title"):
            if earlier[name] != record[name]:
                changes.append(f"{record['match_key']}: {name} {earlier[name]} -> {record[name]}")
    gone = {r["id"] for r in after}
    changes += [f"record {r['id']} gone" for r in before if r["id"] not in gone]
    return changes


def quiet(counts: dict[str, int] | None) -> bool:
    """A batch's counts that say it changed nothing."""
    counts = counts or {}
    return all(counts.get(name, 0) == 0 for name in ("accepted", "updated", "withdrawn"))


# --- 1. files cut off mid-transfer -------------------------------------------------------------


async def cut_files(suite: Suite) -> ScenarioResult:
    result = ScenarioResult(
        "supplier_file_cut",
        "3a. Supplier files cut off mid-transfer (ONIX, MARCXML, MARC, KBART; full and add-only)",
    )
    catalogue = Catalogue(suite)
    start = suite.rng.randrange(10_000, 900_000) // 100 * 100
    loads = refused = changed = 0
    for fmt in FORMATS:
        collection = await catalogue.new_collection(f"cut-{fmt}")
        whole = BUILDERS[fmt](start)
        extra = params_for(fmt)
        first = await catalogue.upload(collection, whole, mode="full", extra=extra)
        before = await catalogue.records(collection)
        result.check(
            f"{fmt}: the whole file loads (full load)",
            first["status"] == "done" and len(before) > TITLES // 2,
            f"{first['status']} {first.get('counts')} {first.get('error') or ''}",
        )
        if not await catalogue.outbox_drained():
            result.check(f"{fmt}: catalogue outbox drained", False, "still events unsent")
        mark = await catalogue.mark()
        broken = cut(whole, fmt)

        full = await catalogue.upload(collection, broken, mode="full", extra=extra)
        full_findings = await catalogue.findings(full["id"])
        after_full = await catalogue.records(collection)
        result.check(
            f"{fmt}: the full load of the cut file failed, naming the break",
            full["status"] == "failed"
            and "ends early" in (full.get("error") or "")
            and "full-load-refused" in full_findings,
            f"{full['status']}: {(full.get('error') or '')[:160]}",
        )
        result.zero(
            f"{fmt}: records withdrawn or changed by the refused full load",
            moved(before, after_full) + ([] if quiet(full.get("counts")) else [full["counts"]]),
        )

        delta = await catalogue.upload(collection, broken, mode="delta", extra=extra)
        delta_findings = await catalogue.findings(delta["id"])
        after_delta = await catalogue.records(collection)
        counts = delta.get("counts") or {}
        note = str((delta.get("report") or {}).get("note", ""))
        # An add-only load stores what it could read before the break (whole records only:
        # the cut one is rejected) and withdraws nothing; the break is its finding.
        result.check(
            f"{fmt}: the add-only load of the cut file names the break in a finding",
            "rest of file unread" in delta_findings
            and "not read" in note
            and counts.get("rejected", 0) >= 1,
            f"{delta['status']} {counts}; note: {note[:120]}",
        )
        result.zero(
            f"{fmt}: records withdrawn or changed by the add-only load",
            moved(before, after_delta) + ([] if quiet(counts) else [counts]),
        )

        drained = await catalogue.outbox_drained()
        events = await catalogue.events(collection, mark)
        by_batch: dict[str, list[str]] = {}
        for name, payload in events:
            by_batch.setdefault(str(payload.get("batch_id")), []).append(name)
        unexpected = [
            f"{name} {payload.get('counts')}"
            for name, payload in events
            if name != "titles-ingested" or not quiet(payload.get("counts"))
        ]
        result.check(
            f"{fmt}: the refused full load published no event; the add-only load only its "
            "titles-ingested, with nothing withdrawn",
            drained
            and full["id"] not in by_batch
            and by_batch.get(delta["id"]) == ["titles-ingested"]
            and not unexpected,
            f"events since the cut loads: {[name for name, _ in events]}"
            + (f"; unexpected: {unexpected[:3]}" if unexpected else "")
            + ("" if drained else "; the catalogue's outbox did not drain"),
        )
        loads += 3
        refused += full["status"] == "failed"
        changed += len(moved(before, after_full)) + len(moved(before, after_delta))
    result.figures["uploads"] = loads
    result.figures["summary"] = (
        f"{refused}/{len(FORMATS)} cut full loads refused; {changed} records withdrawn or changed"
    )
    suite.check_crashes(result)
    return result


# --- 2. the same file delivered again ----------------------------------------------------------


async def same_file_again(suite: Suite) -> ScenarioResult:
    result = ScenarioResult(
        "supplier_file_again",
        "3b. The same supplier file delivered again (4 formats, and two products of one title)",
    )
    catalogue = Catalogue(suite)
    start = suite.rng.randrange(10_000, 900_000) // 100 * 100
    files: list[tuple[str, str, bytes]] = [(fmt, fmt, BUILDERS[fmt](start)) for fmt in FORMATS] + [
        ("onix-twins", "onix", twin_products(start))
    ]
    uploads = changed = 0
    for label, fmt, content in files:
        collection = await catalogue.new_collection(f"again-{label}")
        extra = params_for(fmt)
        first = await catalogue.upload(collection, content, mode="full", extra=extra)
        uploads += 1
        before = await catalogue.records(collection)
        result.check(
            f"{label}: the first delivery loads",
            first["status"] == "done" and bool(before),
            f"{first['status']} {first.get('counts')}",
        )
        if label == "onix-twins":
            result.check(
                f"{label}: each title's two products make one record",
                len(before) == (first.get("counts") or {}).get("accepted", -1)
                and (first.get("counts") or {}).get("duplicate", 0) == len(before),
                f"{len(before)} records; {first.get('counts')}",
            )
        if not await catalogue.outbox_drained():
            result.check(f"{label}: catalogue outbox drained", False, "still events unsent")
        mark = await catalogue.mark()
        again: list[dict[str, Any]] = []
        for mode in ("full", "full", "delta"):
            batch = await catalogue.upload(collection, content, mode=mode, extra=extra)
            uploads += 1
            again.append(batch)
        after = await catalogue.records(collection)
        loud = [
            f"{b['mode']}: {b['status']} {b.get('counts')}"
            for b in again
            if b["status"] != "done" or not quiet(b.get("counts"))
        ]
        result.zero(f"{label}: deliveries again that changed something", loud)
        result.zero(f"{label}: records changed, datestamps moved", moved(before, after))
        changed += len(moved(before, after))
        drained = await catalogue.outbox_drained()
        events = await catalogue.events(collection, mark)
        others = [
            f"{name} {payload.get('counts')}"
            for name, payload in events
            if name != "titles-ingested" or not quiet(payload.get("counts"))
        ]
        result.check(
            f"{label}: no event but each batch's own titles-ingested (nothing changed)",
            drained and not others and len(events) == len(again),
            f"{[name for name, _ in events]}" + (f"; unexpected: {others[:3]}" if others else ""),
        )
    result.figures["uploads"] = uploads
    result.figures["summary"] = (
        f"{uploads - len(files)} deliveries again: {changed} records changed or datestamps moved"
    )
    suite.check_crashes(result)
    return result


# --- 3. the catalogue killed in the middle of an ingest ----------------------------------------


async def killed_mid_ingest(suite: Suite) -> ScenarioResult:
    """SIGKILL of the catalogue while a large batch is being ingested, under the steady load,
    then a restart. The batch is one transaction: after the restart it is failed (its owner's
    database session is gone) or, if the kill came after its commit, done; never still
    ``processing``. The collection holds all of its records or none, a failed batch published
    nothing, and the next upload into the collection is accepted (not refused as "a batch is
    still running")."""
    mode, stack, rng = suite.mode, suite.stack, suite.rng
    kills = mode.ingest_kills
    result = ScenarioResult(
        "catalogue_killed_mid_ingest", f"3c. kill -9 of the catalogue mid-ingest ({kills}x)"
    )
    if not kills:
        result.skip("kill mid-ingest", f"not in the {mode.name} run (see Mode.ingest_kills)")
        return result
    if "catalogue" not in stack.services:
        result.skip("kill mid-ingest", "no catalogue in this stack")
        return result
    catalogue = Catalogue(suite)
    process = stack.services["catalogue"]
    load = suite.new_load()
    await load.start()
    watch = suite.watch()
    await asyncio.sleep(mode.warmup_s)
    windows: list[tuple[float, float]] = []
    outcomes: dict[str, int] = {"failed": 0, "done": 0, "processing": 0}
    caught_running = 0
    settled: list[float] = []
    for round_ in range(kills):
        start = rng.randrange(10_000, 900_000) // 100 * 100
        content = await asyncio.to_thread(marc_content, start, KILL_FILE_RECORDS, start + 1)
        collection = await catalogue.new_collection(f"kill-{round_}")
        # The collection already holds the first titles of the big file, with other content:
        # the killed batch would update them, so a half-written batch would show on them.
        baseline = marc_content(start, BASELINE_RECORDS)
        await catalogue.upload(collection, baseline, mode="full")
        before = await catalogue.records(collection)
        await catalogue.outbox_drained()
        mark = await catalogue.mark()
        opened = await catalogue.upload(collection, content, mode="full", wait=False)
        batch_id = opened["id"]
        # A random moment of the ingest: after it has reported some progress.
        deadline = time.monotonic() + 60
        seen: dict[str, Any] = opened
        while time.monotonic() < deadline:
            seen = await catalogue.batch(batch_id)
            if seen["status"] != "processing" or seen["processed"] > 0:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(rng.uniform(0.0, 2.0))
        running = seen["status"] == "processing"
        began = time.time()
        await asyncio.to_thread(process.kill9)
        caught_running += running
        process.start()
        windows.append((began, time.time()))
        try:
            await stack.wait_ready("catalogue")
        except (TimeoutError, RuntimeError) as error:
            result.check(f"kill {round_ + 1}: the catalogue became ready again", False, str(error))
            continue
        ready = time.monotonic()
        batch = await catalogue.batch(batch_id)
        while batch["status"] == "processing" and time.monotonic() < ready + ORPHAN_BOUND_S:
            await asyncio.sleep(1.0)
            batch = await catalogue.batch(batch_id)
        settled.append(round(time.monotonic() - ready, 1))
        outcomes[batch["status"]] = outcomes.get(batch["status"], 0) + 1
        result.check(
            f"kill {round_ + 1}: the batch is failed or done after the restart, not processing",
            batch["status"] in ("failed", "done"),
            f"{batch['status']} {settled[-1]} s after ready: {(batch.get('error') or '')[:100]}",
        )
        after = await catalogue.records(collection)
        counts = batch.get("counts") or {}
        if batch["status"] == "done":
            whole = len(after) == len(before) + counts.get("accepted", -1) and all(
                r["changed_batch"] == batch_id for r in after
            )
            detail = f"done: {len(after)} records, counts {counts}"
        else:
            changes = moved(before, after)
            whole = not changes
            detail = f"{batch['status']}: {len(after)} records; changes: {changes[:3]}"
        result.check(
            f"kill {round_ + 1}: the collection holds all of the batch or none of it",
            whole,
            detail,
        )
        await catalogue.outbox_drained()
        names = [
            name
            for name, payload in await catalogue.events(collection, mark)
            if payload.get("batch_id") == batch_id
        ]
        result.check(
            f"kill {round_ + 1}: the batch's titles-ingested published once if done, never "
            "if failed",
            names == (["titles-ingested"] if batch["status"] == "done" else []),
            f"{batch['status']}: {names}",
        )
        try:
            again = await catalogue.upload(collection, marc_content(start, 10), mode="delta")
            next_ok, detail = again["status"] == "done", f"{again['status']} {again.get('counts')}"
        except (RuntimeError, httpx.HTTPError) as error:
            next_ok, detail = False, str(error)
        result.check(
            f"kill {round_ + 1}: the next upload into the collection runs", next_ok, detail
        )
    result.check(
        "a kill fell while the batch was running",
        caught_running > 0,
        f"{caught_running} of {kills} kills",
    )
    result.figures["batch_after_restart"] = outcomes
    result.figures["kill_file_records"] = KILL_FILE_RECORDS
    result.figures["batch_settled_after_ready_s"] = settled
    result.figures["summary"] = (
        f"batches after the restart: {outcomes['failed']} failed, {outcomes['done']} done, "
        f"{outcomes['processing']} processing"
    )
    await suite.conclude(result, load, windows, watch)
    return result
