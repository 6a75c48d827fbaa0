"""The package imports light: no Airflow, no web server at import time."""

import subprocess
import sys


def test_importing_package_imports_no_airflow() -> None:
    code = (
        "import sys, airflow_provider_abeja; "
        "print(any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_version_is_a_string() -> None:
    import airflow_provider_abeja

    assert airflow_provider_abeja.__version__.count(".") == 2


def test_the_provider_and_the_emulator_import_nothing_of_each_other() -> None:
    """Two distributions: the provider's wheel holds no emulator and the emulator needs no Airflow."""
    import ast
    from pathlib import Path

    import abeja_emulator
    import airflow_provider_abeja

    def imported(package: Path) -> set[str]:
        names: set[str] = set()
        for path in package.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom):
                    names.add("." * node.level + (node.module or "").split(".")[0])
        return names

    provider = imported(Path(airflow_provider_abeja.__file__).parent)
    emulator = imported(Path(abeja_emulator.__file__).parent)
    assert "abeja_emulator" not in provider
    assert not {"airflow", "airflow_provider_abeja"} & emulator
    assert not any(name.startswith("..") for name in emulator), "a relative import leaves the emulator"
