"""The public Atom 1.0 feed (RFC 4287) of announcements, built with lxml, with no I/O.

Entry ids are ``urn:uuid:`` URIs of the announcement rows, fixed when an announcement is
written, so an entry keeps its id on every request and in every copy of the feed. The feed's
own id is derived from the service's public URL and the language, so it is stable too.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from lxml import etree

ATOM_NS = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
FEED_TITLES = {
    None: (
        "Yleisten kirjastojen konsortio – tiedotteet / "
        "De allmänna bibliotekens konsortium – meddelanden"
    ),
    "fi": "Yleisten kirjastojen konsortio – tiedotteet",
    "sv": "De allmänna bibliotekens konsortium – meddelanden",
}
AUTHOR = "Yleisten kirjastojen konsortio"
# An empty feed still needs <updated>; this fixed instant keeps it stable across requests.
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
FEED_NAMESPACE = uuid.UUID("0b6c8a3e-3d0e-4a3f-b6f4-6f0e2f9c1a77")


def rfc3339(value: dt.datetime) -> str:
    """An RFC 3339 timestamp in UTC with a Z, as Atom's date constructs require."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def feed_id(base_url: str, language: str | None) -> str:
    name = f"{base_url}/feed.atom?lang={language or ''}"
    return f"urn:uuid:{uuid.uuid5(FEED_NAMESPACE, name)}"


def xml_text(text: str) -> str:
    """Drop the characters XML 1.0 cannot carry (most control characters), which would
    otherwise make a whole feed unreadable because of one odd product name."""
    return "".join(
        char
        for char in text
        if char in "\t\n\r"
        or ("\x20" <= char <= "\ud7ff")
        or ("\ue000" <= char <= "\ufffd")
        or ("\U00010000" <= char <= "\U0010ffff")
    )


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
    if text is not None:
        element.text = xml_text(text)
    return element


def render_feed(
    announcements: Sequence[dict[str, Any]], *, base_url: str, language: str | None
) -> bytes:
    """The feed document; ``announcements`` newest first, each with id, language, title,
    summary, link, published_at and updated_at."""
    root = etree.Element(f"{{{ATOM_NS}}}feed", nsmap={None: ATOM_NS})  # type: ignore[dict-item]  # lxml-stubs omit the None (default) prefix lxml takes
    if language:
        root.set(XML_LANG, language)
    self_url = f"{base_url}/feed.atom" + (f"?lang={language}" if language else "")
    _sub(root, "id", feed_id(base_url, language))
    _sub(root, "title", FEED_TITLES[language], type="text")
    updated = max((a["updated_at"] for a in announcements), default=EPOCH)
    _sub(root, "updated", rfc3339(updated))
    author = _sub(root, "author")
    _sub(author, "name", AUTHOR)
    _sub(root, "link", rel="self", href=self_url, type="application/atom+xml")
    _sub(root, "generator", "Konsortio outreach")
    for announcement in announcements:
        entry = _sub(root, "entry")
        entry.set(XML_LANG, announcement["language"])
        _sub(entry, "id", f"urn:uuid:{announcement['id']}")
        _sub(entry, "title", announcement["title"], type="text")
        _sub(entry, "published", rfc3339(announcement["published_at"]))
        _sub(entry, "updated", rfc3339(announcement["updated_at"]))
        if announcement.get("link"):
            _sub(entry, "link", rel="alternate", href=announcement["link"])
        _sub(entry, "summary", announcement["summary"], type="text")
        _sub(entry, "content", announcement["summary"], type="text")
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)
