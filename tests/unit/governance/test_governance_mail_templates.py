"""Outreach's survey invitation and reminder render in Finnish and Swedish, three parts each,
and say the survey's closing day and title in the reader's language."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import html as lxml_html

from services.outreach.domain import Recipient
from services.outreach.templates import Templates

LIBRARY = {"isil": "FI-Tro", "names": {"fi": "Tornion kirjasto", "sv": "Torneå bibliotek"}}
SURVEY = {
    "survey_id": "survey-2026-1",
    "kind": "renewal",
    "title": {"fi": "Jatketaanko e-kirjoja?", "sv": "Förnyas e-böckerna?"},
    "opens_on": dt.date(2026, 12, 1),
    "closes_on": dt.date(2026, 12, 31),
}


@pytest.mark.parametrize("kind", ["survey", "survey-reminder"])
@pytest.mark.parametrize("language", ["fi", "sv"])
def test_survey_mails_render_in_the_readers_language(kind: str, language: str) -> None:
    recipient = Recipient("FI-Tro", "aino@tornio.example", "Aino", language)
    subject, text, html = Templates().render(
        kind, language, {"library": LIBRARY, "survey": SURVEY, "recipient": recipient}
    )
    assert "\n" not in subject and SURVEY["title"][language] in subject  # type: ignore[index]  # the test knows the shape of the value it indexes
    assert "31.12.2026" in subject
    greeting = "Hei Aino" if language == "fi" else "Hej Aino"
    assert greeting in text and greeting in html
    assert lxml_html.document_fromstring(html).get("lang") == language
    if kind == "survey":
        binding = "sitova" if language == "fi" else "bindande"
        assert binding in text and binding in html


@pytest.mark.parametrize("language", ["fi", "sv"])
def test_the_annual_report_mail_links_the_report_in_the_readers_language(language: str) -> None:
    recipient = Recipient("FI-Tro", "aino@tornio.example", "Aino", language)
    report = {
        "year": 2026,
        "url": "https://p.example/reports/annual/2026?isil=FI-Tro&format=html",
        "pdf_url": "https://p.example/reports/annual/2026?isil=FI-Tro&format=pdf",
    }
    subject, text, html = Templates().render(
        "annual-report", language, {"library": LIBRARY, "report": report, "recipient": recipient}
    )
    assert "2026" in subject
    assert f"{report['pdf_url']}&lang={language}" in text
    links = lxml_html.document_fromstring(html).xpath("//a/@href")
    assert f"{report['pdf_url']}&lang={language}" in links
