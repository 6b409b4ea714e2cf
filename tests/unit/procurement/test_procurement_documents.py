"""Procurement documents: versioned by content hash, revised only in draft."""

from __future__ import annotations

import hashlib

import pytest
from procurement_factories import BEFORE_DEADLINE, tender

from services.procurement.domain import (
    DocumentKind,
    IllegalTransition,
    InvalidValue,
    add_version,
    latest,
    open_tender,
)


def test_versions_follow_content_and_freeze_when_opened() -> None:
    t = tender()
    first = add_version(t, "price-form", b"v1", "text/csv", [])
    assert first is not None and first.version == 1
    assert first.sha256 == hashlib.sha256(b"v1").hexdigest()
    assert add_version(t, "price-form", b"v1", "text/csv", [first]) is None
    second = add_version(t, DocumentKind.PRICE_FORM, b"v2", "text/csv", [first])
    assert second is not None and second.version == 2
    other = add_version(t, "contract-draft", b"v1", "application/pdf", [first, second])
    assert other is not None and other.version == 1
    assert latest([first, second, other]) == (other, second)
    with pytest.raises(InvalidValue):
        add_version(t, "price-form", b"", "text/csv", [])
    with pytest.raises(IllegalTransition):
        add_version(open_tender(t, BEFORE_DEADLINE), "price-form", b"v3", "text/csv", [])
