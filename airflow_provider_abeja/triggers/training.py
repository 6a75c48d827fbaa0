"""``AbejaTrainingJobTrigger``, under the classpath stored in trigger rows; defined in ``wait.trigger``.

``validate_training_event`` turns the trigger's event back into a result or a clear task failure.
"""

from airflow_provider_abeja.wait.engine import validate_training_event
from airflow_provider_abeja.wait.trigger import AbejaTrainingJobTrigger

__all__ = ["AbejaTrainingJobTrigger", "validate_training_event"]
