"""The OAI-PMH repository (``oai.OaiRepository``) over the catalogue's tables.

Two kinds of item:
- a collection's record, ``oai:<namespace>:<record id>``, in set ``collection:<id>``; it is
  deleted when a full load withdrew the title;
- a record in a library's set, ``oai:<namespace>:<ISIL>:<record id>``, in set
  ``library:<ISIL>``, with the library's own datestamp (when the record came to, changed in or
  left its set) and deleted when the library lost it (left the agreement, the agreement
  ended, the title was withdrawn). A harvester that takes a library's set incrementally
  therefore sees a collection arrive the day its library joins, even for old records.

- a record in a kimppa's set, ``oai:<namespace>:kimppa:<id>:<record id>``, in set
  ``kimppa:<id>``: ONE item per record however many of the kimppa's libraries hold it, its
  holders listed as 852 $a ISIL fields (``exports.with_holdings``); deleted only when the last
  holding library lost the record (``kimppa_store.sync_kimppa_records``).

A repository is made for one caller: a library sees only its own set and its kimppa's (and
their identifiers); the coordinator and cataloguers see every item. Items are ordered by
(datestamp, owner, record id), with "" as the owner of collection records, the ISIL of a
library's and ``kimppa:<id>`` of a kimppa's; the resumption cursor is that triple.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.catalogue import domain, kimppa_store
from services.catalogue.exports import stamped, with_holdings
from services.catalogue.oai.protocol import (
    ItemPage,
    OaiError,
    OaiItem,
    OaiSet,
    collection_set,
    kimppa_set,
    library_set,
    parse_set_spec,
)

# OAI datestamps have second granularity: "until" includes the whole second it names.
ONE_SECOND = dt.timedelta(seconds=1)

_MASTERS = """
    SELECT r.datestamp, ''::text AS isil, r.id AS record_id, r.deleted, r.collection_id,
           r.datestamp AS changed, CASE WHEN $7 AND NOT r.deleted THEN r.marc END AS marc,
           NULL::text[] AS holders
    FROM records r
    WHERE ($1::text IS NULL OR r.collection_id = $1)
      AND ($2::timestamptz IS NULL OR r.datestamp >= $2)
      AND ($3::timestamptz IS NULL OR r.datestamp < $3)
      AND ($4::timestamptz IS NULL
           OR (r.datestamp >= $4 AND (r.datestamp, ''::text, r.id) > ($4, $5, $6)))
    ORDER BY r.datestamp, r.id
    LIMIT $8
"""
_LIBRARY = """
    SELECT lr.datestamp, lr.isil, lr.record_id, lr.deleted, lr.collection_id,
           r.datestamp AS changed, CASE WHEN $7 AND NOT lr.deleted THEN r.marc END AS marc,
           NULL::text[] AS holders
    FROM library_records lr JOIN records r ON r.id = lr.record_id
    WHERE ($1::text IS NULL OR lr.isil = $1)
      AND ($2::timestamptz IS NULL OR lr.datestamp >= $2)
      AND ($3::timestamptz IS NULL OR lr.datestamp < $3)
      AND ($4::timestamptz IS NULL
           OR (lr.datestamp >= $4 AND (lr.datestamp, lr.isil, lr.record_id) > ($4, $5, $6)))
    ORDER BY lr.datestamp, lr.isil, lr.record_id
    LIMIT $8
"""
_KIMPPA = """
    SELECT kr.datestamp, 'kimppa:' || kr.kimppa_id AS isil, kr.record_id, kr.deleted,
           kr.collection_id, r.datestamp AS changed,
           CASE WHEN $7 AND NOT kr.deleted THEN r.marc END AS marc, kr.holders
    FROM kimppa_records kr JOIN records r ON r.id = kr.record_id
    WHERE kr.kimppa_id = $1
      AND ($2::timestamptz IS NULL OR kr.datestamp >= $2)
      AND ($3::timestamptz IS NULL OR kr.datestamp < $3)
      AND ($4::timestamptz IS NULL
           OR (kr.datestamp >= $4
               AND (kr.datestamp, 'kimppa:' || kr.kimppa_id, kr.record_id) > ($4, $5, $6)))
    ORDER BY kr.datestamp, kr.record_id
    LIMIT $8
"""
# Every item: all three kinds merged in order. $1 is unused here ("every item" has no scope) but
# keeps the same parameter list as the two queries above.
_EVERYTHING = """
    SELECT * FROM (
        (SELECT r.datestamp, ''::text AS isil, r.id AS record_id, r.deleted, r.collection_id,
                r.datestamp AS changed, CASE WHEN $7 AND NOT r.deleted THEN r.marc END AS marc,
                NULL::text[] AS holders
         FROM records r
         WHERE ($2::timestamptz IS NULL OR r.datestamp >= $2)
           AND ($3::timestamptz IS NULL OR r.datestamp < $3)
           AND ($4::timestamptz IS NULL
                OR (r.datestamp >= $4 AND (r.datestamp, ''::text, r.id) > ($4, $5, $6)))
         ORDER BY r.datestamp, r.id
         LIMIT $8)
        UNION ALL
        (SELECT lr.datestamp, lr.isil, lr.record_id, lr.deleted, lr.collection_id,
                r.datestamp AS changed, CASE WHEN $7 AND NOT lr.deleted THEN r.marc END AS marc,
                NULL::text[] AS holders
         FROM library_records lr JOIN records r ON r.id = lr.record_id
         WHERE ($2::timestamptz IS NULL OR lr.datestamp >= $2)
           AND ($3::timestamptz IS NULL OR lr.datestamp < $3)
           AND ($4::timestamptz IS NULL
                OR (lr.datestamp >= $4 AND (lr.datestamp, lr.isil, lr.record_id) > ($4, $5, $6)))
         ORDER BY lr.datestamp, lr.isil, lr.record_id
         LIMIT $8)
        UNION ALL
        (SELECT kr.datestamp, 'kimppa:' || kr.kimppa_id AS isil, kr.record_id, kr.deleted,
                kr.collection_id, r.datestamp AS changed,
                CASE WHEN $7 AND NOT kr.deleted THEN r.marc END AS marc, kr.holders
         FROM kimppa_records kr JOIN records r ON r.id = kr.record_id
         WHERE ($2::timestamptz IS NULL OR kr.datestamp >= $2)
           AND ($3::timestamptz IS NULL OR kr.datestamp < $3)
           AND ($4::timestamptz IS NULL
                OR (kr.datestamp >= $4
                    AND (kr.datestamp, 'kimppa:' || kr.kimppa_id, kr.record_id) > ($4, $5, $6)))
         ORDER BY kr.datestamp, 'kimppa:' || kr.kimppa_id, kr.record_id
         LIMIT $8)
    ) items
    WHERE $1::text IS NULL
    ORDER BY datestamp, isil, record_id
    LIMIT $8
"""


def _cursor(row: Any) -> str:
    return f"{row['datestamp'].isoformat()}|{row['isil']}|{row['record_id']}"


def _parse_cursor(cursor: str | None) -> tuple[dt.datetime | None, str, int]:
    if cursor is None:
        return None, "", 0
    try:
        stamp, isil, record_id = cursor.split("|")
        return dt.datetime.fromisoformat(stamp), isil, int(record_id)
    except ValueError as error:
        raise OaiError("badResumptionToken", "the resumption token is invalid") from error


class StoreRepository:
    def __init__(
        self, pool: asyncpg.Pool, namespace: str, *, isil: str | None, kimppa: str | None = None
    ) -> None:
        self.pool = pool
        self.namespace = namespace
        self.isil = isil  # None: every item (coordinator, cataloguer)
        self.kimppa = kimppa  # the library caller's kimppa, whose set it may harvest too

    def _item(self, row: Any, *, with_metadata: bool) -> OaiItem:
        owner = row["isil"] or None
        if owner is None:
            identifier = domain.master_identifier(self.namespace, row["record_id"])
            sets: tuple[str, ...] = (collection_set(row["collection_id"]),)
        elif owner.startswith(domain.KIMPPA_PREFIX):
            kimppa_id = owner[len(domain.KIMPPA_PREFIX) :]
            identifier = domain.kimppa_identifier(self.namespace, kimppa_id, row["record_id"])
            sets = (kimppa_set(kimppa_id),)
        else:
            identifier = domain.library_identifier(self.namespace, owner, row["record_id"])
            sets = (library_set(owner),)
        record = None
        problem = None
        if with_metadata and not row["deleted"] and row["marc"] is not None:
            try:
                record = stamped(row["marc"], row["changed"], deleted=False)
                if row["holders"] is not None:
                    record = with_holdings(record, row["holders"])
            except Exception as error:  # a stored record that no longer reads: that item only
                problem = error
        return OaiItem(identifier, row["datestamp"], sets, row["deleted"], record, problem)

    async def earliest_datestamp(self) -> dt.datetime:
        if self.isil is not None:
            earliest = await self.pool.fetchval(
                """
                SELECT least((SELECT min(datestamp) FROM library_records WHERE isil = $1),
                             (SELECT min(datestamp) FROM kimppa_records WHERE kimppa_id = $2))
                """,
                self.isil,
                self.kimppa,
            )
        else:
            earliest = await self.pool.fetchval(
                """
                SELECT least((SELECT min(datestamp) FROM records),
                             (SELECT min(datestamp) FROM library_records),
                             (SELECT min(datestamp) FROM kimppa_records))
                """
            )
        if earliest is None:
            earliest = await self.pool.fetchval(
                "SELECT coalesce(min(created_at), now()) FROM collections"
            )
        return earliest

    async def get_item(self, identifier: str) -> OaiItem | None:
        parsed = domain.parse_identifier(self.namespace, identifier)
        if parsed is None:
            return None
        owner, record_id = parsed
        if self.isil is not None:
            mine = {self.isil, *([kimppa_set(self.kimppa)] if self.kimppa else [])}
            if owner not in mine:
                return None
        if owner is None:
            row = await self.pool.fetchrow(
                """
                SELECT r.datestamp, '' AS isil, r.id AS record_id, r.deleted, r.collection_id,
                       r.datestamp AS changed, r.marc, NULL::text[] AS holders
                FROM records r WHERE r.id = $1
                """,
                record_id,
            )
        elif owner.startswith(domain.KIMPPA_PREFIX):
            row = await self.pool.fetchrow(
                """
                SELECT kr.datestamp, 'kimppa:' || kr.kimppa_id AS isil, kr.record_id, kr.deleted,
                       kr.collection_id, r.datestamp AS changed, r.marc, kr.holders
                FROM kimppa_records kr JOIN records r ON r.id = kr.record_id
                WHERE kr.kimppa_id = $1 AND kr.record_id = $2
                """,
                owner[len(domain.KIMPPA_PREFIX) :],
                record_id,
            )
        else:
            row = await self.pool.fetchrow(
                """
                SELECT lr.datestamp, lr.isil, lr.record_id, lr.deleted, lr.collection_id,
                       r.datestamp AS changed, r.marc, NULL::text[] AS holders
                FROM library_records lr JOIN records r ON r.id = lr.record_id
                WHERE lr.isil = $1 AND lr.record_id = $2
                """,
                owner,
                record_id,
            )
        return self._item(row, with_metadata=True) if row else None

    async def list_items(
        self,
        *,
        set_spec: str | None,
        from_: dt.datetime | None,
        until: dt.datetime | None,
        after: str | None,
        limit: int,
        with_metadata: bool,
    ) -> ItemPage:
        kind, value = parse_set_spec(set_spec) if set_spec else (None, None)
        if self.isil is not None:
            mine = {("library", self.isil)}
            if self.kimppa:
                mine.add(("kimppa", self.kimppa))
            if kind is not None and (kind, value) not in mine:
                return ItemPage([], None)  # not this library's: nothing it may see
            if kind is None:
                kind, value = "library", self.isil
        stamp, isil, record_id = _parse_cursor(after)
        if kind == "library":
            query, scope = _LIBRARY, value
        elif kind == "kimppa":
            query, scope = _KIMPPA, value
        elif kind == "collection":
            query, scope = _MASTERS, value
        else:
            query, scope = _EVERYTHING, None
        rows = await self.pool.fetch(
            query,
            scope,
            from_,
            until + ONE_SECOND if until else None,
            stamp,
            isil,
            record_id,
            with_metadata,
            limit + 1,
        )
        page = rows[:limit]
        more = len(rows) > limit
        return ItemPage(
            [self._item(row, with_metadata=with_metadata) for row in page],
            _cursor(page[-1]) if more and page else None,
        )

    async def list_sets(self) -> Sequence[OaiSet]:
        """Collections; kimppas by name; libraries outside a kimppa by name. A library in a
        kimppa harvests the kimppa's set (its own set stays answerable but is not listed to
        others). A library caller sees its own set and its kimppa's."""
        if self.isil is not None:
            name = await kimppa_store.library_name(self.pool, self.isil) or self.isil
            own = [OaiSet(library_set(self.isil), f"{name} ({self.isil})")]
            kimppa = await kimppa_store.kimppa_of(self.pool, self.isil)
            if kimppa is None:
                return own
            return [OaiSet(kimppa_set(kimppa.id), _kimppa_name(kimppa)), *own]
        collections = await self.pool.fetch("SELECT id, title FROM collections ORDER BY id")
        kimppas, libraries = await kimppa_store.set_names(self.pool)
        return [
            *(OaiSet(collection_set(row["id"]), row["title"]) for row in collections),
            *(OaiSet(kimppa_set(k.id), _kimppa_name(k)) for k in kimppas),
            *(OaiSet(library_set(isil), f"{name} ({isil})") for isil, name in libraries),
        ]


def _kimppa_name(kimppa: kimppa_store.Kimppa) -> str:
    return f"{kimppa.name} ({kimppa.library_system})"
