"""Sphinx configuration of the provider's docs site (`make docs`: warnings are errors).

Pages are MyST Markdown. Their code blocks are checked copies of regions of files that the test suite
runs, between ``# [START name]`` / ``# [END name]`` markers (``_ext/snippets.py``; tests/docs/ checks them).
Pictures are drawn at build time from the real DAGs and a real emulator run (``_ext/abeja_docs.py``).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS / "_ext"), str(DOCS.parent)]

# Airflow reads its home on first import (autodoc imports the operators): a throw-away one, never
# the writer's ~/airflow, and no example DAGs of Airflow's own.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="abeja-docs-airflow-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# The build imports Airflow to draw the DAGs: its INFO lines are not the build's output (`make docs` is -q).
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
for _name in ("airflow.configuration", "airflow.settings"):  # logged before Airflow reads that setting
    logging.getLogger(_name).setLevel(logging.WARNING)

from airflow_provider_abeja import __version__  # noqa: E402

project = "airflow-provider-abeja"
author = "airflow-provider-abeja developers"
copyright = "airflow-provider-abeja developers"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "abeja_docs",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "_generated/*.md",  # fragments, included by the pages
    "emulator-conformance.md",  # included by emulator.md
]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 4

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"airflow-provider-abeja {release}"
html_static_path: list[str] = []
