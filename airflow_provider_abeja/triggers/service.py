"""``AbejaServiceStatusTrigger``, under the classpath stored in trigger rows; defined in ``wait.trigger``.

``validate_status_event`` turns the trigger's event back into a result or a clear task failure.
"""

from airflow_provider_abeja.wait.engine import validate_status_event
from airflow_provider_abeja.wait.trigger import AbejaServiceStatusTrigger

__all__ = ["AbejaServiceStatusTrigger", "validate_status_event"]
