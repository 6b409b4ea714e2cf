"""Every message kind renders in Finnish and Swedish, with a subject, a plain-text part and an
HTML part; the contact's language picks the template; user text is escaped in HTML."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from lxml import html as lxml_html

from services.outreach import domain
from services.outreach.domain import KitFile, Recipient
from services.outreach.templates import Templates

LIBRARY: dict[str, Any] = {
    "isil": "FI-Tro",
    "names": {"fi": "Tornion kaupunginkirjasto", "sv": "Torneå stadsbibliotek", "en": None},
}
AGREEMENT: dict[str, Any] = {
    "agreement_id": "AG-1",
    "title": "E-kirjat 2027–2029",
    "product": "Ellibs E-kirjasto",
    "supplier": "Ellibs Oy",
    "material_types": ["e-book", "e-audiobook"],
    "signed_on": dt.date(2026, 11, 3),
    "joined_on": dt.date(2026, 12, 1),
    "start": dt.date(2027, 1, 1),
    "end": dt.date(2027, 12, 31),
}
CONTEXTS: dict[str, dict[str, Any]] = {
    "welcome": {"library": LIBRARY, "joined_on": dt.date(2026, 11, 1)},
    "announcement": {"agreement": AGREEMENT, "feed_url": "https://k.example/feed.atom"},
    "kit": {"library": LIBRARY, "agreement": AGREEMENT, "kits_url": "https://k.example/kits"},
    "invitation": {
        "library": LIBRARY,
        "tender": {
            "title": "E-äänikirjat",
            "kl_reference": "KL-2026-17",
            "deadline": dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC),
            "material_types": ["e-audiobook"],
        },
    },
    "notice": {
        "library": LIBRARY,
        "collection": {"title": "Ellibs e-kirjat", "count": 1234, "oai_set": None},
    },
    "campaign": {
        "library": LIBRARY,
        "campaign": {"subject": "Lue <e-kirjoja>", "paragraphs": ["Eka & <b>toka</b>", "Kolmas"]},
    },
    "usage-digest": {
        "library": LIBRARY,
        "month": dt.date(2026, 10, 1),
        "lines": [{"agreement_id": "AG-1", "title": "Ellibs e-kirjat", "uses": 321, "titles": 9}],
        "total": 321,
        "unsubscribe_url": "https://k.example/usage-digest/unsubscribe?token=abc",
    },
}
# A word each language's version of each kind must contain, and the other must not.
SUBJECT_WORDS = {
    "welcome": ("Tervetuloa", "Välkommen"),
    "announcement": ("puitesopimus", "ramavtal"),
    "kit": ("Markkinointipaketti", "Marknadsföringspaket"),
    "invitation": ("Kutsu", "Inbjudan"),
    "notice": ("Uusia e-aineistoja", "Nya e-material"),
    "campaign": ("Lue", "Lue"),  # the coordinator's own subject
    "usage-digest": ("E-aineistojen käyttö", "Användning av e-material"),
}
FILES = [
    {
        "filename": "juliste.pdf",
        "category": "poster",
        "kit": "Ellibs",
        "size": 2048,
        "url": "https://k.example/kits/k/files/f",
        "attached": True,
    }
]


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates()


@pytest.mark.parametrize("kind", domain.KINDS)
@pytest.mark.parametrize("language", ["fi", "sv"])
def test_every_kind_renders_three_parts_in_both_languages(
    templates: Templates, kind: str, language: str
) -> None:
    recipient = Recipient("FI-Tro", "aino@tornio.example", "Aino", language)
    subject, text, html = templates.render(
        kind, language, {**CONTEXTS[kind], "recipient": recipient, "files": FILES}
    )
    assert subject and "\n" not in subject
    assert SUBJECT_WORDS[kind][0 if language == "fi" else 1] in subject
    greeting = "Hei Aino" if language == "fi" else "Hej Aino"
    assert greeting in text and greeting in html
    assert "<" not in text.replace("<e-kirjoja>", "").replace("<b>", "").replace("</b>", "")
    document = lxml_html.document_fromstring(html)
    assert document.get("lang") == language
    signature = "Yleisten kirjastojen konsortio" if language == "fi" else "De allmänna"
    assert signature in text and signature in document.text_content()


@pytest.mark.parametrize("language", ["fi", "sv"])
def test_swedish_names_are_used_for_swedish_readers(templates: Templates, language: str) -> None:
    recipient = Recipient("FI-Tro", "a@b.example", "Sara", language)
    subject, text, _ = templates.render(
        "welcome", language, {**CONTEXTS["welcome"], "recipient": recipient, "files": []}
    )
    expected = "Tornion kaupunginkirjasto" if language == "fi" else "Torneå stadsbibliotek"
    assert expected in subject and expected in text


def test_a_library_without_a_swedish_name_falls_back_to_finnish(templates: Templates) -> None:
    library = {"isil": "FI-Ke", "names": {"fi": "Keski-kirjastot", "sv": None, "en": None}}
    subject, _, _ = templates.render(
        "welcome",
        "sv",
        {
            "library": library,
            "joined_on": dt.date(2026, 1, 1),
            "recipient": Recipient("FI-Ke", "a@b.example", "Sara", "sv"),
            "files": [],
        },
    )
    assert subject.endswith("Keski-kirjastot")


def test_campaign_text_is_escaped_in_html_and_kept_in_plain_text(templates: Templates) -> None:
    recipient = Recipient("FI-Tro", "a@b.example", "Aino", "fi")
    subject, text, html = templates.render(
        "campaign", "fi", {**CONTEXTS["campaign"], "recipient": recipient, "files": []}
    )
    assert subject == "Lue <e-kirjoja>"
    assert "Eka & <b>toka</b>" in text
    assert "Eka &amp; &lt;b&gt;toka&lt;/b&gt;" in html and "<b>toka" not in html


def test_dates_and_times_are_written_the_finnish_way(templates: Templates) -> None:
    for language, clock in (("fi", "1.12.2026 klo 12.00"), ("sv", "1.12.2026 kl. 12.00")):
        recipient = Recipient("FI-Tro", "a@b.example", "Aino", language)
        _, text, _ = templates.render(
            "invitation", language, {**CONTEXTS["invitation"], "recipient": recipient}
        )
        assert clock in text  # 10:00 UTC is noon in Helsinki in December


def test_material_types_are_translated(templates: Templates) -> None:
    for language, words in (("fi", "e-kirjat, e-äänikirjat"), ("sv", "e-böcker, e-ljudböcker")):
        recipient = Recipient("FI-Tro", "a@b.example", "Aino", language)
        _, text, _ = templates.render(
            "announcement", language, {**CONTEXTS["announcement"], "recipient": recipient}
        )
        assert words in text


def test_kit_files_are_listed_with_links_and_marked_when_attached(templates: Templates) -> None:
    recipient = Recipient("FI-Tro", "a@b.example", "Aino", "fi")
    _, text, html = templates.render(
        "kit", "fi", {**CONTEXTS["kit"], "recipient": recipient, "files": FILES}
    )
    assert "juliste.pdf (juliste, 2 kB, liitteenä): https://k.example/kits/k/files/f" in text
    assert '<a href="https://k.example/kits/k/files/f">juliste.pdf</a>' in html


def test_unknown_language_falls_back_to_finnish(templates: Templates) -> None:
    recipient = Recipient("FI-Tro", "a@b.example", "Aino", "en")
    subject, _, _ = templates.render(
        "welcome", "en", {**CONTEXTS["welcome"], "recipient": recipient, "files": []}
    )
    assert subject.startswith("Tervetuloa")


@pytest.mark.parametrize("language", ["fi", "sv"])
def test_snippets_for_drafts_and_the_feed(templates: Templates, language: str) -> None:
    for name in (
        "agreement_campaign.subject",
        "agreement_campaign.body",
        "agreement_feed.title",
        "agreement_feed.summary",
    ):
        text = templates.snippet(name, language, {"agreement": AGREEMENT})
        assert "Ellibs E-kirjasto" in text or "E-kirjat 2027–2029" in text


def test_compose_renders_one_mail_per_recipient_in_their_language() -> None:
    files = [
        KitFile("f1", "k1", "Kit", "fi", "poster", "juliste.pdf", "application/pdf", 100, "a" * 64),
        KitFile("f2", "k1", "Kit", "sv", "poster", "affisch.pdf", "application/pdf", 100, "b" * 64),
        KitFile("f3", "k1", "Kit", "any", "logo", "logo.png", "image/png", 5_000, "c" * 64),
    ]
    recipients = [
        Recipient("FI-Tro", "fi@x.example", "Aino", "fi"),
        Recipient("FI-Tro", "sv@x.example", "Sara", "sv"),
    ]
    mails = domain.compose(
        Templates(),
        "welcome",
        recipients,
        {"library": LIBRARY, "joined_on": dt.date(2026, 1, 1)},
        files,
        file_url=lambda f: f"https://k.example/{f.id}",
        attachment_max_bytes=1_000,
    )
    finnish, swedish = mails
    assert finnish.subject.startswith("Tervetuloa") and swedish.subject.startswith("Välkommen")
    assert [f.filename for f in finnish.attachments] == ["juliste.pdf"]  # logo.png too big
    assert [f.filename for f in swedish.attachments] == ["affisch.pdf"]
    assert "logo.png" in finnish.text and "https://k.example/f3" in finnish.text
