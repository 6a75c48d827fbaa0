"""Statuses and the sets that waits use, in one shape for every kind of resource (no Airflow,
no HTTP library): a ``StatusEnum`` of the platform's spellings, the sets taken from it with
``StatusEnum.values``, and the ``ResourceKind`` the wait engine (``wait_step``) needs. Services
are declared here; training jobs in ``training_status``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from airflow_provider_abeja.exceptions import AbejaError, ServiceFailedError

__all__ = [
    "DEFAULT_FAILURE_STATUSES",
    "KNOWN_STATUSES",
    "RUNNING_STATUSES",
    "SERVICE",
    "TERMINAL_STATUSES",
    "ResourceKind",
    "ServiceStatus",
    "StatusEnum",
]


class StatusEnum(str, Enum):
    """A status as the platform spells it: ``str()`` and comparisons give that spelling."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def values(cls, *members: StatusEnum) -> frozenset[str]:
        """The spellings of ``members``; of every member when none is named."""
        return frozenset(member.value for member in (members or tuple(cls)))


@dataclass(frozen=True)
class ResourceKind:
    """What kind of thing a wait watches: its name in messages, its keys in a trigger event,
    its default target and failure statuses, the statuses it knows, and its failure error."""

    noun: str
    id_key: str
    status_key: str
    target_status: str
    failure_statuses: frozenset[str]
    known_statuses: frozenset[str]
    #: ``(id, status, log_lines, message)`` -> the fail-fast error of a failure status.
    failed_error: Callable[[str, str, Sequence[str], str], AbejaError]
    #: A field of the resource whose text explains a failure (appended to the message).
    detail_key: str | None = None


class ServiceStatus(StatusEnum):
    """Statuses a service reports. ``STOPPED`` and ``FAILED`` are this provider's (and the
    emulator's) names: the public material only shows ``IN_PROGRESS`` and ``READY``."""

    IN_PROGRESS = "IN_PROGRESS"
    READY = "READY"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


#: Every status this provider knows; a wait warns once about any other and keeps waiting.
KNOWN_STATUSES = ServiceStatus.values()
#: A service in one of these runs (or is about to): start has nothing to do, a retry may reuse it.
RUNNING_STATUSES = ServiceStatus.values(ServiceStatus.READY, ServiceStatus.IN_PROGRESS)
#: Statuses after which a wait fails unless it is waiting for exactly that status.
DEFAULT_FAILURE_STATUSES = ServiceStatus.values(ServiceStatus.FAILED, ServiceStatus.STOPPED)
#: Statuses that do not change without a new request (start / stop / update).
TERMINAL_STATUSES = ServiceStatus.values(ServiceStatus.READY, ServiceStatus.STOPPED, ServiceStatus.FAILED)

#: A deployment's service (the wait engine's default kind).
SERVICE = ResourceKind(
    noun="service",
    id_key="service_id",
    status_key="service_status",
    target_status=ServiceStatus.READY.value,
    failure_statuses=DEFAULT_FAILURE_STATUSES,
    known_statuses=KNOWN_STATUSES,
    failed_error=ServiceFailedError,
)
