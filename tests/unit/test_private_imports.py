"""Private modules stay private: ``pkg._mod`` is imported only from inside ``pkg``, or by its own unit test.

The client's private ``_core`` in particular: everything outside ``client/``
uses its public API (``client``, ``client.validation``, ``client.credentials``,
``client.retry``), so the client can change inside without breaking the hook or operators.

The tests are held to the same rule, a package's own unit tests counting as inside it:
``tests/unit/<pkg>/`` mirrors ``airflow_provider_abeja/<pkg>/``, so ``tests/unit/client/test_paging.py``
may import ``client._core`` (a unit test of the client's insides), while ``tests/unit/test_fail_fast.py``,
the integration, reliability and DAG tests may not: they go through the public API, so the package can
change inside without breaking a test far from the change. A dotted string naming a private module (a
``monkeypatch.setattr("airflow_provider_abeja.client._core.MAX_PAGES", 4)`` target) counts as an import.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import airflow_provider_abeja

PACKAGE = Path(airflow_provider_abeja.__file__).parent
ROOT = PACKAGE.parent
#: Code that uses the provider as users do: the package itself, the example DAGs, scripts,
#: benchmarks; and the tests.
CHECKED = [PACKAGE, ROOT / "example_dags", ROOT / "scripts", ROOT / "bench", ROOT / "tests"]
#: A string that names something in the package, e.g. a ``monkeypatch.setattr`` target.
DOTTED = re.compile(r"airflow_provider_abeja(\.\w+)+")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module an ``import`` names (for ``from m import x``: ``m`` and ``m.x``), and every
    string constant that names something in the package (a patch target)."""
    names: set[str] = set()
    text = path.read_text()
    if "airflow_provider_abeja" not in text:
        return names  # nothing to find; most of the emulator's tests, not worth parsing
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and DOTTED.fullmatch(node.value):
            names.add(node.value)
    return names


def _sources(root: Path) -> Iterator[Path]:
    """The ``.py`` files under ``root``, not entering hidden folders: a git-ignored venv such as
    bench/.venv-abeja-sdk, which the SDK tests install, holds thousands."""
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        yield from (Path(folder, name) for name in sorted(files) if name.endswith(".py"))


def _as_package_module(module: str) -> str:
    """A unit test stands where the code it tests does: ``tests.unit.client.test_paging`` is
    ``airflow_provider_abeja.client.test_paging``."""
    if module.startswith("tests.unit."):
        return "airflow_provider_abeja." + module.removeprefix("tests.unit.")
    return module


def private_imports(checked: list[Path] = CHECKED, top: Path = ROOT) -> list[str]:
    """``importer imports pkg._mod`` for every private module imported from outside its package
    (a package's unit tests count as inside it)."""
    found: set[str] = set()
    for root in checked:
        for path in _sources(root):
            importer = _module_name(path, top)
            where = _as_package_module(importer)
            for name in _imports(path):
                parts = name.split(".")
                if parts[0] != "airflow_provider_abeja":
                    continue
                for i, part in enumerate(parts[1:], start=1):
                    if part.startswith("_") and not part.startswith("__"):
                        owner = ".".join(parts[:i])
                        if where != owner and not where.startswith(owner + "."):
                            found.add(f"{importer} imports {'.'.join(parts[: i + 1])}")
                        break
    return sorted(found)


def test_no_module_imports_another_packages_private_module() -> None:
    assert private_imports() == []


def test_the_check_sees_a_private_import(tmp_path: Path) -> None:
    """The control: a module outside ``client/`` that imports ``client._core`` is reported (in a
    copy of the package, so that a test running beside this one never sees the probe)."""
    package = tmp_path / "airflow_provider_abeja"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "hooks" / "_probe_private_import.py").write_text(
        "from airflow_provider_abeja.client._core import RequestSpec\n"
    )
    assert private_imports([package], tmp_path) == [
        "airflow_provider_abeja.hooks._probe_private_import imports airflow_provider_abeja.client._core"
    ]


def test_the_check_lets_only_a_packages_unit_tests_import_its_private_modules(tmp_path: Path) -> None:
    """The control for the tests: ``tests/unit/client/`` may import ``client._core``; a reliability
    test may not, not even as a patch target's string."""
    own = tmp_path / "tests" / "unit" / "client" / "test_probe.py"
    other = tmp_path / "tests" / "reliability" / "test_probe.py"
    for path in (own, other):
        path.parent.mkdir(parents=True)
        path.write_text("from airflow_provider_abeja.client._core import RequestSpec\n")
    other.write_text('TARGET = "airflow_provider_abeja.client._core.MAX_PAGES"\n')
    assert private_imports([tmp_path / "tests"], tmp_path) == [
        "tests.reliability.test_probe imports airflow_provider_abeja.client._core"
    ]
