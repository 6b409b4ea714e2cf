"""The HTTP vocabulary every service shares: paging parameters, the page model and the role
dependencies that routes repeat.

- ``limit: Limit = DEFAULT_LIMIT, offset: Offset = 0`` on a listing route, or one ``paging:
  Paged`` parameter for the same two query parameters as a :class:`Paging`. A route that
  really needs another bound declares it next to the route, with a comment saying why:
  ``Annotated[int, Query(ge=0, le=10_000_000)]`` (a type alias, so type checkers accept it).
- ``class LibraryPage(Page[LibraryOut])``: the response ``{items, total, limit, offset}``; a
  subclass may add fields (a listing's counts).
- Domain refusals are not mapped here: raise ``kit.rules.NotFound`` / ``RuleViolated`` /
  ``Conflict`` and the app factory answers them (``kit.errors``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from kit.auth import Caller, Role
from kit.auth_http import current_caller, require_role

T = TypeVar("T")
P = TypeVar("P", bound=BaseModel)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 1_000_000


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


@dataclass(frozen=True)
class Paging:
    """The ``limit`` and ``offset`` of a listing, and the page they make."""

    limit: int
    offset: int

    def window(self, items: Sequence[T]) -> list[T]:
        return list(items[self.offset : self.offset + self.limit])

    def page(self, page: type[P], items: Sequence[Any], total: int, **fields: Any) -> P:
        """A page model (any with items, total, limit and offset) for this window."""
        return page(items=items, total=total, limit=self.limit, offset=self.offset, **fields)


def paging(limit: Limit = DEFAULT_LIMIT, offset: Offset = 0) -> Paging:
    """The paging query parameters every listing takes, as one dependency."""
    return Paging(limit, offset)


Paged = Annotated[Paging, Depends(paging)]


class Page(BaseModel, Generic[T]):
    """One page of a listing: the items, how many there are in all, and the window asked for."""

    items: list[T]
    total: int
    limit: int
    offset: int


# Callers that routes check again and again: any valid token, or one of these roles.
AnyCaller = Annotated[Caller, Depends(current_caller)]
Coordinator = Annotated[Caller, Depends(require_role(Role.COORDINATOR))]
