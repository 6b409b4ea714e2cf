"""The documentation stands on its own in every clone: each relative link points at a file or
folder inside the repository (and a `#section` at a heading that exists), and no page points
at a folder outside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        ROOT / "bench" / "README.md",
        ROOT / "reliability" / "README.md",
        *(ROOT / "docs").glob("*.md"),
    ]
)
FENCED = re.compile(r"^```.*?^```", flags=re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", flags=re.MULTILINE)
OUTSIDE = ("../shared", "/work/")


def _prose(text: str) -> str:
    """The page without code: a path in a shell example is not a link."""
    return INLINE_CODE.sub("", FENCED.sub("", text))


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    plain = heading.replace("`", "").lower()
    return re.sub(r"[^\w\- ]", "", plain).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_anchor(h) for h in HEADING.findall(FENCED.sub("", page.read_text()))}


def _links(page: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(_prose(page.read_text()))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    ]


def test_the_pages_exist_and_link_somewhere() -> None:
    assert all(page.is_file() for page in PAGES)
    assert (ROOT / "docs" / "architecture.md") in PAGES
    assert any(_links(page) for page in PAGES)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(page: Path) -> None:
    broken = []
    for target in _links(page):
        path_part, _, fragment = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page.resolve()
        if not resolved.is_relative_to(ROOT.resolve()) or not resolved.exists():
            broken.append(f"{target}: no such file in the repository")
        elif fragment and resolved.suffix == ".md" and fragment not in _anchors(resolved):
            broken.append(f"{target}: no heading #{fragment} in {resolved.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_points_outside_the_repository(page: Path) -> None:
    text = page.read_text()
    found = [marker for marker in OUTSIDE if marker in text]
    assert not found, f"{page.relative_to(ROOT)} mentions {found}"


def test_the_checker_finds_a_broken_link_and_a_missing_heading(tmp_path: Path) -> None:
    page = ROOT / "docs" / "architecture.md"
    assert "delivery-guarantees-and-why" in _anchors(page)
    assert _anchor("Kit and service: where the line runs") == "kit-and-service-where-the-line-runs"
    fake = tmp_path / "page.md"
    fake.write_text("[a](missing.md) `[b](code.md)` [c](https://example.org)\n```\n[d](x)\n```\n")
    assert _links(fake) == ["missing.md"]
