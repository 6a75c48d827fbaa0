"""Apache Airflow provider for the ABEJA Platform Service API.

Importing this package imports no Airflow and no web server: DAG files import it on
every parse, and the client is usable from plain Python.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
