"""Every text a person reads on the dashboard's pages goes through the translations: a
template holds markup and expressions only, never words of its own."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import nodes

from services.dashboard import pages

TEMPLATES = sorted((Path(pages.__file__).parent / "templates").glob("*.j2"))
# The product's name is the same in every language.
NAMES = ("Konsortio",)
# Attributes a browser shows or reads aloud.
SHOWN = {"title", "alt", "placeholder", "aria-label", "aria-description", "label"}
EXPRESSION = "\ue000"  # stands in for whatever a {{ … }} or {% … %} puts there


class ShownText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # A button's value is its caption; a checkbox's or a hidden field's is never shown.
        captioned = tag == "button" or dict(attrs).get("type") in {"submit", "button", "reset"}
        for name, value in attrs:
            if value and (name in SHOWN or (name == "value" and captioned)):
                self.found.append(value)

    def handle_data(self, data: str) -> None:
        self.found.append(data)


def bare_words(source: str) -> list[str]:
    """The words of a template's own text (outside every Jinja expression and tag)."""
    tree = pages.environment().parse(source)
    html = EXPRESSION.join(node.data for node in tree.find_all(nodes.TemplateData))
    parser = ShownText()
    parser.feed(html)
    words: list[str] = []
    for text in parser.found:
        for name in NAMES:
            text = text.replace(name, "")
        words += re.findall(r"[^\W\d_]{2,}", text.replace(EXPRESSION, " "))
    return words


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_templates_hold_no_untranslated_text(template: Path) -> None:
    assert bare_words(template.read_text()) == []


def test_the_check_finds_bare_text() -> None:
    assert bare_words('<p>{{ f.t("total") }}</p><p>Total</p>') == ["Total"]
    assert bare_words('<nav aria-label="Site navigation"></nav>') == ["Site", "navigation"]
    assert bare_words('<input type="submit" value="Send">') == ["Send"]
    assert bare_words('<a href="/?lang={{ lang }}">{{ f.t("x") }}</a> · Konsortio') == []
    assert bare_words('<input type="hidden" name="lang" value="fi">') == []
    assert bare_words('<input type="checkbox" name="hide" value="true">') == []
