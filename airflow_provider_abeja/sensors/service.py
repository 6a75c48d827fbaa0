"""``AbejaServiceStatusSensor``, where DAGs import it from; defined in ``wait.sensor``."""

from airflow_provider_abeja.wait.sensor import WAIT_RETRIES, AbejaServiceStatusSensor

__all__ = ["WAIT_RETRIES", "AbejaServiceStatusSensor"]
