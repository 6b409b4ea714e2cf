"""Jinja2 message templates in Finnish and Swedish.

Files: ``templates/<lang>/<kind>.{subject,txt,html}.j2``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATE_DIR = Path(__file__).parent / "templates"
LANGUAGES = ("fi", "sv")


class Templates:
    def __init__(self, directory: Path = TEMPLATE_DIR) -> None:
        self.env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
            undefined=StrictUndefined,  # a missing value is a bug, not an empty string
            keep_trailing_newline=True,
        )

    def render(self, kind: str, language: str, context: dict[str, Any]) -> tuple[str, str, str]:
        if language not in LANGUAGES:
            language = "fi"
        parts = [
            self.env.get_template(f"{language}/{kind}.{part}.j2").render(**context)
            for part in ("subject", "txt", "html")
        ]
        return parts[0].strip(), parts[1], parts[2]
