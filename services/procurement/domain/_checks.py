"""Small validators shared by the domain modules. They raise :class:`InvalidValue` naming the
field, so that every constructor reports problems the same way."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import Enum
from typing import TypeVar

from .errors import InvalidValue

E = TypeVar("E", bound=Enum)

#: Long enough for a real description, short enough to keep rows and events small.
MAX_TEXT_LENGTH = 10_000


def require_text(field: str, value: object, *, max_length: int = MAX_TEXT_LENGTH) -> str:
    if not isinstance(value, str):
        raise InvalidValue(field, f"must be text, got {type(value).__name__}")
    if not value.strip():
        raise InvalidValue(field, "must not be empty")
    if len(value) > max_length:
        raise InvalidValue(field, f"must be at most {max_length} characters")
    return value


def optional_text(field: str, value: object, *, max_length: int = MAX_TEXT_LENGTH) -> str:
    """Text that may be empty (notes)."""
    if not isinstance(value, str):
        raise InvalidValue(field, f"must be text, got {type(value).__name__}")
    if len(value) > max_length:
        raise InvalidValue(field, f"must be at most {max_length} characters")
    return value


def require_int(
    field: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    # bool is a subclass of int; True as a price or a weight is always a caller bug.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(field, f"must be an integer, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise InvalidValue(field, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InvalidValue(field, f"must be at most {maximum}, got {value}")
    return value


def coerce_enum(field: str, enum_cls: type[E], value: object) -> E:
    """Accept the enum member or its value, so the API can pass raw strings through."""
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum_cls)
        raise InvalidValue(field, f"unknown value {value!r}; expected one of: {allowed}") from None


def coerce_enum_set(field: str, enum_cls: type[E], values: object) -> frozenset[E]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise InvalidValue(field, "must be a collection of values")
    return frozenset(coerce_enum(field, enum_cls, v) for v in values)


def require_date(field: str, value: object) -> date:
    # datetime is a subclass of date; mixing them makes comparisons raise later.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidValue(field, f"must be a date, got {type(value).__name__}")
    return value


def require_aware_datetime(field: str, value: object) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidValue(field, f"must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(field, "must carry a time zone")
    return value
