"""The committed contracts match the models, and no change breaks an event version that was
published before (every earlier committed version of each schema file since the baseline)."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest

from contracts import ALL_EVENTS, EVENTS_BY_TYPE
from contracts.compatibility import breaking_changes
from contracts.export import SCHEMA_DIR, event_schema, render_all

REPO = Path(__file__).parents[2]
# Where the committed schemas live in the repository, newest first: they moved with the
# package into its own distribution, and every earlier location's history still counts.
SCHEMA_PATHS = (SCHEMA_DIR.relative_to(REPO).as_posix(), "contracts/schemas")


def test_committed_schemas_and_asyncapi_match_the_models() -> None:
    expected = render_all()
    committed = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json")}
    stale = sorted(name for name in expected if committed.get(name) != expected[name])
    assert not stale, f"run `konsortio contracts export` and commit: {stale}"


def test_every_event_type_is_unique_and_versioned() -> None:
    assert len(EVENTS_BY_TYPE) == len(ALL_EVENTS)
    for event in ALL_EVENTS:
        assert event.ce_type().startswith("fi.konsortio.")
        assert event.ce_type().endswith(f".v{event.version}")
        assert event.topic() == f"konsortio.{event.producer}"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout


def _published_versions(name: str) -> list[tuple[str, dict]]:
    baseline = (SCHEMA_DIR / "BASELINE").read_text().split()[0]
    versions = []
    for directory in SCHEMA_PATHS:
        try:
            revisions = _git(
                "log", "--format=%H", f"{baseline}^..HEAD", "--", f"{directory}/{name}"
            ).split()
        except (subprocess.CalledProcessError, FileNotFoundError):
            pytest.skip("no git history here")
        for revision in revisions:
            try:
                versions.append(
                    (revision[:8], json.loads(_git("show", f"{revision}:{directory}/{name}")))
                )
            except subprocess.CalledProcessError:
                continue  # deleted (or moved away) in that revision
    return versions


def test_the_history_of_every_schema_is_found_where_it_was_committed() -> None:
    """The compatibility check above is only as good as the history it finds: the schemas'
    pre-move commits must still be reachable through ``SCHEMA_PATHS``."""
    name = "fi.konsortio.procurement.agreement-left.v1.json"
    if not (REPO / ".git").exists():
        pytest.skip("no git history here")
    assert _published_versions(name), f"no committed version of {name} found"


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.ce_type())
def test_no_published_version_is_broken(event) -> None:  # type: ignore[no-untyped-def]  # a test helper; pytest or the test gives its untyped parameters
    current = event_schema(event)
    for revision, old in _published_versions(f"{event.ce_type()}.json"):
        problems = breaking_changes(old, current)
        assert not problems, f"breaks {event.ce_type()} as published in {revision}: {problems}"


def test_the_checker_catches_breaking_changes_and_allows_optional_additions() -> None:
    from contracts.membership import MemberJoined

    old = event_schema(MemberJoined)
    added = copy.deepcopy(old)
    added["properties"]["note"] = {"type": "string", "default": ""}
    assert breaking_changes(old, added) == []

    removed = copy.deepcopy(old)
    del removed["properties"]["period"]
    removed["required"].remove("period")
    assert breaking_changes(old, removed) == ["(payload).period: removed"]

    required = copy.deepcopy(added)
    required["required"].append("note")
    assert breaking_changes(old, required) == ["(payload).note: newly required"]

    retyped = copy.deepcopy(old)
    retyped["$defs"]["Library"]["properties"]["population"] = {"type": "string"}
    assert "(payload).library.population: type changed" in breaking_changes(old, retyped)

    narrowed = copy.deepcopy(old)
    narrowed["$defs"]["Contact"]["properties"]["language"]["enum"] = ["fi"]
    assert breaking_changes(old, narrowed)
