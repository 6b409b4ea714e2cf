"""konsortio-contracts is a distribution of its own: its wheel builds from the workspace, and
installed into a clean virtual environment with nothing but its dependencies it decodes an
example of every event type and serves its schemas, without any of Konsortio's other code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import contracts
import contracts.resources

REPO = Path(__file__).parents[2]
MEMBER = REPO / "packages" / "konsortio-contracts"

CHECK = r"""
import importlib.metadata as md, importlib.util, json, sys
import contracts
import contracts.resources
from contracts import ALL_EVENTS, UnknownEventVersion, decode, resources
from contracts.examples import EXAMPLES, example_record

names = sorted(d.metadata["Name"].lower().replace("_", "-") for d in md.distributions())
seen = []
for example in EXAMPLES:
    headers, value = example_record(example)
    received = decode([(k, v.encode()) for k, v in headers.items()], value)
    assert received.event == example, example.ce_type()
    seen.append(received.type)
headers, value = example_record(EXAMPLES[0])
try:
    decode({**headers, "ce_type": headers["ce_type"][:-1] + "7"}, value)
    refused = False
except UnknownEventVersion:
    refused = True
print(json.dumps({
    "distributions": names,
    "decoded": sorted(seen),
    "all_types": sorted(e.ce_type() for e in ALL_EVENTS),
    "refused_v7": refused,
    "asyncapi_version": resources.asyncapi()["info"]["version"],
    "version": contracts.__version__,
    "kit_importable": importlib.util.find_spec("kit") is not None,
    "location": contracts.__file__,
}))
"""


def _uv() -> str:
    found = shutil.which("uv", path=str(REPO / ".tools" / "bin")) or shutil.which("uv")
    assert found, "uv is not installed (make bootstraps it into .tools/bin)"
    return found


def test_the_version_is_one_number_everywhere() -> None:
    project = tomllib.loads((MEMBER / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == ["pydantic>=2.7", "email-validator>=2"]
    assert "version" in project["dynamic"]
    assert contracts.resources.asyncapi()["info"]["version"] == contracts.__version__


def test_the_wheel_installs_alone_into_a_clean_environment(tmp_path: Path) -> None:
    import json

    dist = tmp_path / "dist"
    env = {**os.environ, "UV_PYTHON": sys.executable}
    subprocess.run(
        [_uv(), "build", "--package", "konsortio-contracts", "--wheel", "--out-dir", str(dist)],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("konsortio_contracts-*.whl")
    assert wheel.name.startswith(f"konsortio_contracts-{contracts.__version__}-")

    target = tmp_path / "clean"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    # The wheel's dependencies come from uv's cache (or PyPI): nothing from this workspace.
    subprocess.run(
        [_uv(), "pip", "install", "--python", str(python), str(wheel)],
        env={k: v for k, v in env.items() if k != "VIRTUAL_ENV"},
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [str(python), "-I", "-c", CHECK],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout)
    assert report["decoded"] == report["all_types"]
    assert report["refused_v7"]
    assert report["version"] == report["asyncapi_version"] == contracts.__version__
    assert not report["kit_importable"]
    assert report["location"].startswith(str(target))
    assert "konsortio" not in report["distributions"]
    assert set(report["distributions"]) <= {
        "konsortio-contracts",
        "pydantic",
        "pydantic-core",
        "annotated-types",
        "typing-extensions",
        "typing-inspection",
        # Contacts' addresses are checked with email-validator, which needs these two.
        "email-validator",
        "dnspython",
        "idna",
    }, report["distributions"]


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_a_changed_contract_comes_with_a_new_package_version() -> None:
    """Consumers pin konsortio-contracts by version, so the same version must always mean
    the same contracts: any change to an event's schema since the commit that set the current
    version needs a higher version, and withdrawing an event version a higher major one."""
    from contracts.export import SCHEMA_DIR, render_all

    init = (MEMBER / "contracts" / "__init__.py").relative_to(REPO).as_posix()
    try:
        revision = _git(
            "log", "-m", "-1", "--format=%H", "-S", f'__version__ = "{contracts.__version__}"',
            "--", init,
        ).split()[:1]  # fmt: skip
        # -m: a version raised in a merge commit is found too (one line per parent).
        revision = revision[0] if revision else ""
    except (subprocess.CalledProcessError, FileNotFoundError):
        revision = ""
    if not revision:
        import pytest

        pytest.skip("no git history of the package version here")
    directory = SCHEMA_DIR.relative_to(REPO).as_posix()
    listed = _git("ls-tree", "--name-only", f"{revision}:{directory}").split()
    then = {
        name: _git("show", f"{revision}:{directory}/{name}")
        for name in listed
        if name.startswith("fi.konsortio.")
    }
    now = {name: text for name, text in render_all().items() if name.startswith("fi.konsortio.")}
    withdrawn = sorted(set(then) - set(now))
    changed = sorted(name for name in now if then.get(name) != now[name])
    assert not withdrawn, (
        f"{withdrawn} withdrawn since {revision[:8]}: that needs a new major version of "
        "konsortio-contracts (and a reason: consumers may still read them)"
    )
    assert not changed, (
        f"{changed} changed since konsortio-contracts {contracts.__version__} was set in "
        f"{revision[:8]}: raise __version__ in {init} (minor for added events, versions or "
        "optional fields; patch for descriptions)"
    )
