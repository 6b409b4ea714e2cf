"""Outreach rules with no I/O: recipients, kit files per language, attachments, audience
filters, campaign states, backoff, upload checks, and the Atom feed."""

from __future__ import annotations

import datetime as dt
import io
import uuid
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from pydantic import ValidationError

from contracts.membership import Contact, Library, LibraryNames
from services.outreach import domain, feed, uploads
from services.outreach.domain import AudienceFilter, KitFile, OutreachRuleViolated

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def kit_file(language: str, name: str, size: int = 10, kit: str = "k1") -> KitFile:
    return KitFile(name, kit, "Kit", language, "poster", name, "application/pdf", size, "0" * 64)


# --- recipients and kit files ------------------------------------------------------------------


def test_recipients_are_unique_per_address_case_insensitively() -> None:
    library = Library(
        isil="FI-Tro",
        names=LibraryNames(fi="Tornio"),
        municipalities=["851"],
        population=1,
        library_system="Koha",
        contacts=[
            Contact(name="A", email="Aino@Tornio.example", role="director", language="fi"),
            Contact(name="B", email="AINO@tornio.example", role="marketing", language="sv"),
            Contact(name="C", email="sara@tornio.example", role="e-resources", language="sv"),
        ],
    )
    recipients = domain.recipients_of(library)
    assert [(r.email, r.language) for r in recipients] == [
        ("aino@tornio.example", "fi"),
        ("sara@tornio.example", "sv"),
    ]


def test_kit_files_per_language_fall_back_to_finnish_and_keep_neutral_files() -> None:
    files = [
        kit_file("fi", "juliste.pdf"),
        kit_file("sv", "affisch.pdf"),
        kit_file("any", "logo.png"),
        kit_file("fi", "opas.pdf", kit="k2"),
    ]
    sv = [f.filename for f in domain.files_for_language(files, "sv")]
    fi = [f.filename for f in domain.files_for_language(files, "fi")]
    assert sv == ["affisch.pdf", "logo.png", "opas.pdf"]  # k2 has no Swedish version yet
    assert fi == ["juliste.pdf", "logo.png", "opas.pdf"]


def test_attachments_fit_the_limit_and_smaller_files_fill_the_rest() -> None:
    files = [kit_file("fi", "a", 600), kit_file("fi", "b", 600), kit_file("fi", "c", 300)]
    assert [f.filename for f in domain.attachments_within(files, 1000)] == ["a", "c"]
    assert domain.attachments_within(files, 0) == []


@given(st.integers(min_value=1, max_value=60))
def test_backoff_grows_and_is_capped(attempts: int) -> None:
    delay = domain.retry_delay_s(attempts, 2.0, 300.0)
    assert 2.0 <= delay <= 300.0
    assert delay >= domain.retry_delay_s(max(attempts - 1, 1), 2.0, 300.0)


def test_message_ids_are_stable_per_cause_recipient_and_kind() -> None:
    first = domain.message_id("e1", "a@b.example", "welcome", "k.example")
    assert first == domain.message_id("e1", "a@b.example", "welcome", "k.example")
    assert first != domain.message_id("e1", "a@b.example", "kit", "k.example")
    assert first.startswith("<") and first.endswith("@k.example>")


def test_a_library_is_active_until_its_leaving_date() -> None:
    today = dt.date(2026, 11, 25)
    assert domain.is_active_member(True, None, today)
    assert domain.is_active_member(True, today + dt.timedelta(days=1), today)
    assert not domain.is_active_member(True, today, today)
    assert not domain.is_active_member(False, None, today)


# --- audience filters and campaign states ------------------------------------------------------


def test_audience_filters_describe_themselves() -> None:
    assert AudienceFilter().describe() == "all members"
    assert (
        AudienceFilter(kind="agreement", agreement_id="AG-1").describe()
        == "participants of agreement AG-1"
    )
    systems = AudienceFilter(kind="library_system", library_systems=["Koha", "Aurora", "Koha"])
    assert systems.describe() == "library system: Aurora, Koha"
    assert systems.systems() == ["aurora", "koha"]
    places = AudienceFilter(kind="municipalities", municipalities=["091", "049"])
    assert places.municipality_codes() == ["049", "091"] and places.agreement() is None


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "agreement"},
        {"kind": "library_system"},
        {"kind": "municipalities", "municipalities": ["91"]},
        {"kind": "everyone"},
        {"kind": "all", "surprise": 1},
    ],
)
def test_bad_audience_filters_are_refused(body: dict) -> None:
    with pytest.raises(ValidationError):
        AudienceFilter.model_validate(body)


def test_campaign_state_rules() -> None:
    domain.check_editable("draft")
    domain.check_schedulable("scheduled", NOW + dt.timedelta(hours=1), NOW)
    domain.check_sendable("draft")
    domain.check_cancellable("scheduled")
    for status in ("sending", "sent", "cancelled"):
        for check in (domain.check_editable, domain.check_sendable, domain.check_cancellable):
            with pytest.raises(OutreachRuleViolated) as error:
                check(status)
            assert error.value.conflict and error.value.field == "status"
    with pytest.raises(OutreachRuleViolated) as past:
        domain.check_schedulable("draft", NOW - dt.timedelta(days=1), NOW)
    assert past.value.field == "send_at" and not past.value.conflict
    with pytest.raises(OutreachRuleViolated):
        domain.check_schedulable("draft", dt.datetime(2027, 1, 1), NOW)  # no time zone


def test_progress_figures() -> None:
    figures = domain.campaign_progress(10, 8, {"sent": 4, "failed": 1, "queued": 3})
    assert figures["recipients"] == 10 and figures["percent"] == 50.0
    assert domain.campaign_progress(None, 0, {})["percent"] == 0.0


def test_paragraphs() -> None:
    assert domain.paragraphs("Eka\nrivi\r\n\r\n\n  Toka  \n\n") == ["Eka\nrivi", "Toka"]


# --- upload checks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd.pdf",
        "..\\evil.pdf",
        "/abs.pdf",
        "C:boot.pdf",
        "new\nline.pdf",
        "nul\x00byte.pdf",
        "esc\x1b[31m.pdf",
        "exe\u202etxt.pdf",
        ".hidden.pdf",
        "trailing.pdf ",
        "..",
        "",
        "CON.pdf",
        "x" * 201 + ".pdf",
    ],
)
def test_malicious_file_names_are_refused(name: str) -> None:
    with pytest.raises(OutreachRuleViolated) as error:
        uploads.check_filename(name)
    assert error.value.field == "file.filename"


@pytest.mark.parametrize("name", ["virus.exe", "page.html", "image.gif", "noext", "kit.zip"])
def test_types_outside_the_allow_list_are_unsupported(name: str) -> None:
    with pytest.raises(uploads.UnsupportedFile):
        uploads.check_filename(name)


@pytest.mark.parametrize(
    "name", ["Juliste A4.pdf", "logo.PNG", "kuva.jpeg", "ohje.md", "Åbo – affisch.pdf"]
)
def test_ordinary_names_pass(name: str) -> None:
    assert uploads.check_filename(name) == name


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return buffer.getvalue()


SVG_OK = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle r="4"/></svg>'
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.pdf", b"%PDF-1.7\n...", "application/pdf"),
        ("a.png", PNG, "image/png"),
        ("a.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 20, "image/jpeg"),
        ("a.txt", "Hei maailma – åäö\n".encode(), "text/plain; charset=utf-8"),
        ("a.md", b"# Otsikko\n\nTeksti\n", "text/markdown; charset=utf-8"),
        (
            "a.docx",
            docx_bytes(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    ],
)
def test_content_matching_the_name_is_accepted(name: str, content: bytes, expected: str) -> None:
    assert uploads.check_content(name, io.BytesIO(content)).content_type == expected


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("a.pdf", PNG),  # a PNG named .pdf
        ("a.png", b"%PDF-1.4"),
        ("a.txt", PNG),  # binary under a text name
        ("a.txt", b"\xff\xfe not utf-8"),
        ("a.md", b"bell \x07 character"),
        ("a.docx", b"PK\x03\x04 not really a zip"),
        ("a.png", SVG_OK),  # an SVG under a PNG name
    ],
)
def test_content_not_matching_the_name_is_unsupported(name: str, content: bytes) -> None:
    with pytest.raises(uploads.UnsupportedFile):
        uploads.check_content(name, io.BytesIO(content))


# Each of these got past the SVG filter kit files used to have; SVG is now refused by name,
# and under any other image name its bytes do not match.
SVG_BYPASSES = [
    b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><a id="l"><text>x</text></a>'
    b'<set href="#l" attributeName="href" to="java&#9;script:alert(1)"/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><a id="l"><text>x</text>'
    b'<animate attributeName="href" values="java&#9;script:alert(1)"/></a></svg>',
    b'<?xml-stylesheet type="text/css" href="https://evil.example/s.css"?>'
    b'<svg xmlns="http://www.w3.org/2000/svg"/>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill:url(https://evil.example/t)"/>'
    b"</svg>",
    '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/'
    'passwd">]><svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>'.encode("utf-16"),
]


@pytest.mark.parametrize("svg", SVG_BYPASSES)
@pytest.mark.parametrize("name", ["logo.svg", "LOGO.SVG", "logo.svgz"])
def test_svg_is_refused_by_name_with_the_reason(svg: bytes, name: str) -> None:
    with pytest.raises(uploads.UnsupportedFile) as error:
        uploads.check_filename(name)
    assert error.value.field == "file.filename"
    assert "PNG or PDF" in str(error.value)


@pytest.mark.parametrize("svg", SVG_BYPASSES)
@pytest.mark.parametrize("name", ["logo.png", "logo.jpg", "logo.pdf", "logo.docx"])
def test_svg_bytes_under_an_image_name_do_not_match(svg: bytes, name: str) -> None:
    with pytest.raises(uploads.UnsupportedFile):
        uploads.check_content(name, io.BytesIO(svg))


def test_empty_file_is_refused() -> None:
    with pytest.raises(OutreachRuleViolated):
        uploads.check_content("a.txt", io.BytesIO(b""))


# --- the Atom feed -----------------------------------------------------------------------------


def test_feed_ids_and_dates() -> None:
    announcement = {
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "language": "sv",
        "title": "Nytt ramavtal\x01",
        "summary": "Text",
        "link": None,
        "published_at": dt.datetime(2026, 11, 25, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "updated_at": dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC),
    }
    document = etree.fromstring(
        feed.render_feed([announcement], base_url="https://k.example", language="sv")
    )
    ns = {"a": feed.ATOM_NS}
    assert document.findtext("a:entry/a:id", namespaces=ns) == (
        "urn:uuid:12345678-1234-5678-1234-567812345678"
    )
    assert document.findtext("a:entry/a:published", namespaces=ns) == "2026-11-25T12:00:00Z"
    assert document.findtext("a:entry/a:title", namespaces=ns) == "Nytt ramavtal"
    assert document.findtext("a:id", namespaces=ns) == feed.feed_id("https://k.example", "sv")
    assert feed.feed_id("https://k.example", "sv") != feed.feed_id("https://k.example", "fi")
    empty = etree.fromstring(feed.render_feed([], base_url="https://k.example", language=None))
    assert empty.findtext("a:updated", namespaces=ns) == "2026-01-01T00:00:00Z"
