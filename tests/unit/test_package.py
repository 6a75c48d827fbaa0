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
