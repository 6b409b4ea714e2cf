"""In-memory OaiRepository for the OAI-PMH tests (the real one is the asyncpg store)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.catalogue.oai.protocol import ItemPage, OaiItem, OaiSet


class MemoryRepository:
    """OaiRepository over a list; cursor = "<datestamp>|<identifier>" of the last item."""

    def __init__(self, items: Sequence[OaiItem], sets: Sequence[OaiSet]) -> None:
        self.items = sorted(items, key=lambda i: (i.datestamp, i.identifier))
        self.sets = list(sets)

    async def earliest_datestamp(self) -> datetime:
        return self.items[0].datestamp

    async def get_item(self, identifier: str) -> OaiItem | None:
        return next((i for i in self.items if i.identifier == identifier), None)

    async def list_items(
        self,
        *,
        set_spec: str | None,
        from_: datetime | None,
        until: datetime | None,
        after: str | None,
        limit: int,
        with_metadata: bool,
    ) -> ItemPage:
        matching = [
            i
            for i in self.items
            if (set_spec is None or set_spec in i.set_specs)
            and (from_ is None or i.datestamp >= from_)
            and (until is None or i.datestamp <= until)
        ]
        if after is not None:
            matching = [i for i in matching if f"{i.datestamp.isoformat()}|{i.identifier}" > after]
        page = matching[:limit]
        more = len(matching) > limit
        cursor = f"{page[-1].datestamp.isoformat()}|{page[-1].identifier}" if more else None
        return ItemPage(page, cursor, None)

    async def list_sets(self) -> Sequence[OaiSet]:
        return self.sets
