"""Service statuses and the sets that waits use (no Airflow, no requests)."""

from __future__ import annotations

from enum import Enum


class ServiceStatus(str, Enum):
    """Statuses a service reports. ``STOPPED`` and ``FAILED`` are this provider's (and the
    emulator's) names: the public material only shows ``IN_PROGRESS`` and ``READY``."""

    IN_PROGRESS = "IN_PROGRESS"
    READY = "READY"
    STOPPED = "STOPPED"
    FAILED = "FAILED"

    def __str__(self) -> str:
        return self.value


#: Every status this provider knows; a wait warns once about any other and keeps waiting.
KNOWN_STATUSES: frozenset[str] = frozenset(s.value for s in ServiceStatus)

#: Statuses after which a wait fails unless it is waiting for exactly that status.
DEFAULT_FAILURE_STATUSES: frozenset[str] = frozenset(
    {ServiceStatus.FAILED.value, ServiceStatus.STOPPED.value}
)

#: Statuses that do not change without a new request (start / stop / update).
TERMINAL_STATUSES: frozenset[str] = frozenset(
    {ServiceStatus.READY.value, ServiceStatus.STOPPED.value, ServiceStatus.FAILED.value}
)

__all__ = ["DEFAULT_FAILURE_STATUSES", "KNOWN_STATUSES", "TERMINAL_STATUSES", "ServiceStatus"]
