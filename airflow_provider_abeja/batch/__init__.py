"""Batch inference internals: input readers, the resumable JSONL result store and the concurrent runner.

Plain Python (no Airflow import), so the pieces are testable and benchmarkable on their own;
`operators/batch.py` wires them to the hook and to Airflow's object storage paths.
"""
