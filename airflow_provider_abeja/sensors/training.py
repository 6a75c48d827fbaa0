"""``AbejaTrainingJobSensor``, where DAGs import it from; defined in ``wait.sensor``."""

from airflow_provider_abeja.wait.sensor import AbejaTrainingJobSensor

__all__ = ["AbejaTrainingJobSensor"]
