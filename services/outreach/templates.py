"""Jinja2 message templates in Finnish and Swedish.

Files: ``templates/<lang>/<kind>.{subject,txt,html}.j2`` for messages, and
``templates/<lang>/snippets/<name>.j2`` for texts that are not mails (a campaign draft, an
Atom feed entry)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.outreach.domain import LANGUAGES

TEMPLATE_DIR = Path(__file__).parent / "templates"

MATERIAL_NAMES: dict[str, dict[str, str]] = {
    "e-book": {"fi": "e-kirjat", "sv": "e-böcker"},
    "e-audiobook": {"fi": "e-äänikirjat", "sv": "e-ljudböcker"},
    "e-magazine": {"fi": "e-lehdet", "sv": "e-tidskrifter"},
    "e-newspaper": {"fi": "e-sanomalehdet", "sv": "e-dagstidningar"},
    "streaming-video": {"fi": "suoratoistovideot", "sv": "strömmad video"},
    "music": {"fi": "musiikki", "sv": "musik"},
    "database": {"fi": "tietokannat", "sv": "databaser"},
}
CATEGORY_NAMES: dict[str, dict[str, str]] = {
    "poster": {"fi": "juliste", "sv": "affisch"},
    "social": {"fi": "somesisältö", "sv": "text för sociala medier"},
    "logo": {"fi": "logo", "sv": "logotyp"},
    "guide": {"fi": "opas", "sv": "guide"},
    "other": {"fi": "muu aineisto", "sv": "övrigt material"},
}


def _helsinki() -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo("Europe/Helsinki")
    except zoneinfo.ZoneInfoNotFoundError:  # a slim image without tzdata
        return dt.UTC


def _date(value: dt.date | dt.datetime) -> str:
    # Finnish and Finland-Swedish both write 5.3.2027.
    return f"{value.day}.{value.month}.{value.year}"


def _time(value: dt.datetime, language: str = "fi") -> str:
    local = value.astimezone(_helsinki())
    clock = f"{local.hour}.{local.minute:02d}"
    return f"{_date(local)} klo {clock}" if language == "fi" else f"{_date(local)} kl. {clock}"


def _material(value: str, language: str = "fi") -> str:
    return MATERIAL_NAMES.get(value, {}).get(language, value)


def _category(value: str, language: str = "fi") -> str:
    return CATEGORY_NAMES.get(value, {}).get(language, value)


def _size(value: int) -> str:
    if value >= 1024 * 1024:
        return f"{value / (1024 * 1024):.1f} MB"
    return f"{max(value // 1024, 1)} kB"


class Templates:
    def __init__(self, directory: Path = TEMPLATE_DIR) -> None:
        self.env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
            undefined=StrictUndefined,  # a missing value is a bug, not an empty string
            keep_trailing_newline=True,
            trim_blocks=True,  # a line holding only a {% tag %} leaves no blank line behind
            lstrip_blocks=True,
        )
        self.env.filters.update(
            date=_date, datetime=_time, material=_material, category=_category, size=_size
        )

    def render(self, kind: str, language: str, context: dict[str, Any]) -> tuple[str, str, str]:
        if language not in LANGUAGES:
            language = "fi"
        parts = [
            self.env.get_template(f"{language}/{kind}.{part}.j2").render(
                **context, language=language
            )
            for part in ("subject", "txt", "html")
        ]
        return " ".join(parts[0].split()), parts[1], parts[2]

    def snippet(self, name: str, language: str, context: dict[str, Any]) -> str:
        """A text that is not a mail, e.g. the draft campaign for a new e-service."""
        if language not in LANGUAGES:
            language = "fi"
        template = self.env.get_template(f"{language}/snippets/{name}.j2")
        return template.render(**context, language=language).strip()
