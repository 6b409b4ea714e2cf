"""The tree's layering, checked from the imports themselves: services are independent of each
other and of the tools around them (the launcher and CLI in ``konsortio/``, the benchmarks in
``bench/``), so a service runs the same in a container as under ``konsortio up``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = REPO / "services"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def _service_files() -> list[Path]:
    return sorted(p for p in SERVICES.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from konsortio.stack import free_port\n    import bench.cli\n")
    assert _imported_modules(sample) == {"konsortio.stack", "bench.cli"}


@pytest.mark.parametrize("path", _service_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_a_service_imports_neither_the_tools_nor_another_service(path: Path) -> None:
    own = path.relative_to(SERVICES).parts[0]
    for module in _imported_modules(path):
        top, _, rest = module.partition(".")
        assert top not in {"konsortio", "bench", "reliability", "tests"}, (
            f"{path.relative_to(REPO)} imports {module}: services never import the tools"
        )
        if top == "services" and rest:
            other = rest.split(".")[0]
            assert other == own, f"{path.relative_to(REPO)} imports another service: {module}"
