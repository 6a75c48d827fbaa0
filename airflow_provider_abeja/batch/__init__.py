"""Batch inference internals: input readers, the resumable JSONL result store and the concurrent runner.

Plain Python (no Airflow import), so the pieces are testable and benchmarkable on their own;
`operators/batch.py` wires them to the hook and to Airflow's object storage paths.
"""

from __future__ import annotations

from airflow_provider_abeja.batch.inputs import (
    BatchInput,
    FilesSource,
    InputSource,
    JsonlSource,
    ListSource,
)
from airflow_provider_abeja.batch.paths import path_exists
from airflow_provider_abeja.batch.results import DoneKeys, ResultStore, open_result_store
from airflow_provider_abeja.batch.runner import BatchCounts, BatchRunner

__all__ = [
    "BatchCounts",
    "BatchInput",
    "BatchRunner",
    "DoneKeys",
    "FilesSource",
    "InputSource",
    "JsonlSource",
    "ListSource",
    "ResultStore",
    "open_result_store",
    "path_exists",
]
