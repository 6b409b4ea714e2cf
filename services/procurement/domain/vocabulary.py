"""Closed vocabularies shared by needs, bids and agreements, and the ISIL check."""

from __future__ import annotations

from enum import StrEnum

from contracts.membership import is_isil

from .errors import InvalidValue


class MaterialType(StrEnum):
    E_BOOK = "e-book"
    E_AUDIOBOOK = "e-audiobook"
    E_MAGAZINE = "e-magazine"
    E_NEWSPAPER = "e-newspaper"
    STREAMING_VIDEO = "streaming-video"
    MUSIC = "music"
    DATABASE = "database"


class Device(StrEnum):
    IOS = "ios"
    ANDROID = "android"
    WEB = "web"
    E_READER = "e-reader"


class LibrarySystem(StrEnum):
    """Library systems in use in Finnish public libraries. ``other`` keeps a library with a
    rarer system representable; tests against it are recorded with notes."""

    KOHA = "koha"
    AURORA = "aurora"
    SIERRA = "sierra"
    QURIA = "quria"
    ORIGO = "origo"
    OTHER = "other"


class LicenceModel(StrEnum):
    """How a licence is bought. A need lists the models it accepts; a bid's price model is
    one of them, so a bid can be checked against a need without translation."""

    ANNUAL_FEE = "annual-fee"
    PER_LOAN = "per-loan"
    PER_TITLE = "per-title"


def check_isil(field: str, value: object) -> str:
    """Validate an ISIL by the contracts' one rule, the same one membership and the event
    schemas apply."""
    if not is_isil(value):
        raise InvalidValue(field, f"not a valid ISIL (ISO 15511): {value!r}")
    return value
