"""The cancellation-deadline reminder renders in Finnish and Swedish, for a library's contact
and for the coordinator (no library), with the deadline, the days left and the cost."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from lxml import html as lxml_html

from services.outreach.domain import Recipient
from services.outreach.handlers import _euros
from services.outreach.templates import Templates

LIBRARY: dict[str, Any] = {
    "isil": "FI-Tro",
    "names": {"fi": "Tornion kaupunginkirjasto", "sv": "Torneå stadsbibliotek", "en": None},
}
AGREEMENT: dict[str, Any] = {
    "agreement_id": "AG-1",
    "title": "E-kirjat <2027>",
    "product": "Ellibs E-kirjasto",
    "supplier": "Ellibs Oy",
    "cancellation_deadline": dt.date(2027, 9, 30),
    "days_before": 30,
    "period_end": dt.date(2027, 12, 31),
    "renewals_left": 1,
    "annual_cost": _euros(1_234_567),
}


@pytest.mark.parametrize(
    ("language", "word", "greeting", "signature"),
    [
        ("fi", "Irtisanomisen määräaika", "Hei", "Yleisten kirjastojen konsortio"),
        ("sv", "Sista dag för uppsägning", "Hej", "De allmänna bibliotekens konsortium"),
    ],
)
@pytest.mark.parametrize("library", [LIBRARY, None])
def test_the_reminder_renders_for_a_library_and_for_the_coordinator(
    language: str, word: str, greeting: str, signature: str, library: dict[str, Any] | None
) -> None:
    name = "Aino" if library else ""
    recipient = Recipient(library["isil"] if library else "", "a@example.org", name, language)
    subject, text, html = Templates().render(
        "cancellation-deadline",
        language,
        {"agreement": AGREEMENT, "library": library, "recipient": recipient},
    )
    assert subject.startswith(word) and "\n" not in subject and "30.9.2027" in subject
    assert f"{greeting} Aino," in text if library else f"{greeting}," in text
    assert "12\u00a0345,67 €" in text and signature in text
    assert ("FI-Tro" in text) == (library is not None)
    document = lxml_html.document_fromstring(html)
    assert document.get("lang") == language
    assert "E-kirjat <2027>" in document.text_content()  # escaped, shown as written
    assert "<2027>" not in html


def test_euros_are_written_with_spaced_thousands_and_a_decimal_comma() -> None:
    assert _euros(0) == "0,00"
    assert _euros(5) == "0,05"
    assert _euros(100_000_000) == "1\u00a0000\u00a0000,00"
