"""``AbejaRunSensor``, where DAGs import it from; defined in ``wait.sensor``."""

from airflow_provider_abeja.wait.sensor import AbejaRunSensor

__all__ = ["AbejaRunSensor"]
