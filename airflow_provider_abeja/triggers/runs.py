"""``AbejaRunTrigger`` (defined in ``wait.trigger``) and ``AbejaChannelFileTrigger`` (``wait.channel``),
under the classpaths stored in trigger rows.

``validate_run_event`` turns the run trigger's event back into a result or a clear task failure.
"""

from airflow_provider_abeja.wait.channel import AbejaChannelFileTrigger
from airflow_provider_abeja.wait.engine import validate_run_event
from airflow_provider_abeja.wait.trigger import AbejaRunTrigger

__all__ = ["AbejaChannelFileTrigger", "AbejaRunTrigger", "validate_run_event"]
