"""The public Atom feed validates: against RFC 4287's RELAX NG schema (written out in
tests/fixtures/outreach/atom.rng) and by the rules the schema cannot express: RFC 3339 dates,
one unique and stable id per announcement, fi and sv entries marked with xml:lang."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from lxml import etree

from kit.auth import Role
from tests.conftest import Infra
from tests.integration.conftest import auth
from tests.integration.outreach.conftest import Outreach, handled, publish, signed

pytestmark = pytest.mark.integration

ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SCHEMA = Path(__file__).parents[2] / "fixtures" / "outreach" / "atom.rng"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
ENTRY_ID = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def check_feed(document: bytes) -> etree._Element:
    """Validate one feed document and return its root."""
    root = etree.fromstring(document)
    schema = etree.RelaxNG(etree.parse(str(SCHEMA)))
    assert schema.validate(root), schema.error_log
    assert root.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated"):
        assert len(root.findall(f"{ATOM}{required}")) == 1, required
    assert root.find(f"{ATOM}author/{ATOM}name") is not None  # so entries need no author
    assert "/feed.atom" in root.find(f"{ATOM}link[@rel='self']").get("href")
    for date in root.iter(f"{ATOM}updated", f"{ATOM}published"):
        assert RFC3339.match(date.text), date.text
    entries = root.findall(f"{ATOM}entry")
    ids = [entry.findtext(f"{ATOM}id") for entry in entries]
    assert len(ids) == len(set(ids)), "entry ids must be unique"
    for entry in entries:
        assert ENTRY_ID.match(entry.findtext(f"{ATOM}id"))
        assert entry.get(XML_LANG) in ("fi", "sv")
        assert entry.findtext(f"{ATOM}title")
        assert (
            entry.find(f"{ATOM}content") is not None
            or entry.find(f"{ATOM}link[@rel='alternate']") is not None
        )
        assert entry.findtext(f"{ATOM}updated") >= entry.findtext(f"{ATOM}published")
        assert root.findtext(f"{ATOM}updated") >= entry.findtext(f"{ATOM}updated")
    return root


def entries_by_id(root: etree._Element) -> dict[str, tuple[str, str]]:
    return {
        entry.findtext(f"{ATOM}id"): (entry.get(XML_LANG), entry.findtext(f"{ATOM}title"))
        for entry in root.findall(f"{ATOM}entry")
    }


async def test_the_feed_is_valid_atom_with_stable_ids_in_both_languages(
    infra: Infra, outreach_own: Outreach
) -> None:
    products = [f"Syötepalvelu {uuid.uuid4().hex[:6]}" for _ in range(2)]
    event_ids = await publish(
        infra, *(signed(f"AG-{uuid.uuid4().hex[:6]}", product) for product in products)
    )
    for event_id in event_ids:
        await handled(outreach_own, event_id)
    manual = await outreach_own.client.post(
        "/announcements",
        json={
            "title": {"fi": "Koulutus <e-aineistoista> & muusta", "sv": "Utbildning"},
            "summary": {"fi": "Tervetuloa koulutukseen.", "sv": "Välkommen till utbildningen."},
            "link": "https://www.kirjastot.fi/koulutus",
        },
        headers=auth(infra.token(Role.COORDINATOR)),
    )
    assert manual.status_code == 201, manual.text
    assert [a["language"] for a in manual.json()] == ["fi", "sv"]

    first = await outreach_own.client.get("/feed.atom", params={"limit": 200})  # no token
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/atom+xml")
    root = check_feed(first.content)
    entries = entries_by_id(root)
    for product in products:
        ours = sorted(lang for lang, title in entries.values() if product in title)
        assert ours == ["fi", "sv"], "one entry per announcement and language"
    manual_fi = next(i for i, (lang, t) in entries.items() if t.startswith("Koulutus"))
    assert entries[manual_fi] == ("fi", "Koulutus <e-aineistoista> & muusta")
    manual_entry = root.find(f"{ATOM}entry[{ATOM}id='{manual_fi}']")
    link = manual_entry.find(f"{ATOM}link[@rel='alternate']")
    assert link.get("href") == "https://www.kirjastot.fi/koulutus"

    again = check_feed((await outreach_own.client.get("/feed.atom", params={"limit": 200})).content)
    assert entries_by_id(again) == entries, "ids are stable across requests"
    assert again.findtext(f"{ATOM}id") == root.findtext(f"{ATOM}id")

    swedish = check_feed(
        (await outreach_own.client.get("/feed.atom", params={"lang": "sv", "limit": 200})).content
    )
    assert swedish.get(XML_LANG) == "sv"
    assert {lang for lang, _ in entries_by_id(swedish).values()} == {"sv"}
    assert set(entries_by_id(swedish)) <= set(entries)
    assert swedish.findtext(f"{ATOM}id") != root.findtext(f"{ATOM}id")

    bad = await outreach_own.client.get("/feed.atom", params={"lang": "en"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.lang"
    control = await outreach_own.client.post(
        "/announcements",
        json={"title": {"fi": "bell\x07"}, "summary": {"fi": "x"}},
        headers=auth(infra.token(Role.COORDINATOR)),
    )
    assert control.status_code == 422 and control.json()["errors"][0]["field"] == "title.fi"
    anonymous = await outreach_own.client.post(
        "/announcements", json={"title": {"fi": "x"}, "summary": {"fi": "x"}}
    )
    assert anonymous.status_code == 401
