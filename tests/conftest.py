"""Suite-wide settings, applied before any test module imports Airflow.

Airflow reads AIRFLOW_HOME and its config on first import, so they are set here, at conftest
import time, to a private temporary home: the suite never touches ~/airflow. Under pytest-xdist
(`make test-fast`) each worker process gets a home, and so a metadata database, of its own.
"""

from __future__ import annotations

import os
import tempfile

#: Names the home this conftest made, so that a worker inheriting it knows it may replace it.
_OWN_HOME = "PYTEST_ABEJA_SUITE_AIRFLOW_HOME"
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if "AIRFLOW_HOME" not in os.environ or (_worker and os.environ.get(_OWN_HOME) == os.environ["AIRFLOW_HOME"]):
    _inherited = os.environ.get("AIRFLOW_HOME")
    _home = tempfile.mkdtemp(prefix=f"abeja-airflow-home-{_worker}-" if _worker else "abeja-airflow-home-")
    os.environ["AIRFLOW_HOME"] = os.environ[_OWN_HOME] = _home
    if _inherited and os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") == os.path.join(_inherited, "dags"):
        del os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.join(os.environ["AIRFLOW_HOME"], "dags"))
# The suite must not pick up a developer's real ABEJA credentials or API URL.
for _name in (
    "ABEJA_API_URL",
    "PLATFORM_AUTH_TOKEN",
    "ABEJA_PLATFORM_USER_ID",
    "ABEJA_PLATFORM_PERSONAL_ACCESS_TOKEN",
    "ABEJA_PLATFORM_DATASOURCE_ID",
    "ABEJA_PLATFORM_DATASOURCE_SECRET",
    "ABEJA_ORGANIZATION_ID",
    "ABEJA_API_TIMEOUT",
    "ABEJA_API_MAX_RETRY_COUNT",
):
    os.environ.pop(_name, None)
