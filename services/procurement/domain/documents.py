"""Procurement documents: the invitation to tender, the contract draft and the price form.

Each is stored by the SHA-256 of its content and versioned: uploading different content
makes the next version, the same content again changes nothing. Documents are revised only
while the tender is a draft; opening the tender publishes the latest version of each, so
every bidder answers the same documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from .errors import IllegalTransition, InvalidValue
from .tenders import Tender, TenderState


class DocumentKind(StrEnum):
    INVITATION = "invitation-to-tender"
    CONTRACT_DRAFT = "contract-draft"
    PRICE_FORM = "price-form"


@dataclass(frozen=True, slots=True)
class Document:
    tender_id: str
    kind: DocumentKind
    version: int
    sha256: str
    media_type: str
    size: int


def add_version(
    tender: Tender,
    kind: DocumentKind | str,
    content: bytes,
    media_type: str,
    existing: Iterable[Document],
) -> Document | None:
    """The new version for ``content``, or None if it is the latest version already."""
    kind = DocumentKind(kind)
    if tender.state is not TenderState.DRAFT:
        raise IllegalTransition("tender", tender.state.value, "revise the documents of")
    if not content:
        raise InvalidValue("body", "the document is empty")
    digest = hashlib.sha256(content).hexdigest()
    mine = sorted((d for d in existing if d.kind == kind), key=lambda d: d.version)
    if mine and mine[-1].sha256 == digest:
        return None
    return Document(tender.id, kind, len(mine) + 1, digest, media_type, len(content))


def latest(documents: Iterable[Document]) -> tuple[Document, ...]:
    """The latest version of each kind, in kind order."""
    newest: dict[DocumentKind, Document] = {}
    for d in documents:
        if d.kind not in newest or d.version > newest[d.kind].version:
            newest[d.kind] = d
    return tuple(newest[k] for k in DocumentKind if k in newest)
