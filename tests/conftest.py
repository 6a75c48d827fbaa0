"""Suite-wide settings, applied before any test module imports Airflow.

Airflow reads AIRFLOW_HOME and its config on first import, so they are set here, at conftest
import time, to a private temporary home: the suite never touches ~/airflow.
"""

from __future__ import annotations

import os
import tempfile

_HOME = tempfile.mkdtemp(prefix="abeja-airflow-home-")
os.environ.setdefault("AIRFLOW_HOME", _HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.join(_HOME, "dags"))
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
