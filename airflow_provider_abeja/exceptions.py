"""The provider's exception tree.

Imports nothing but the standard library, so that every module (client, hook, operators,
triggers) can raise and catch the same classes without pulling in Airflow or requests.
No message or repr built here ever contains a credential: callers pass ids, URLs (which never
carry userinfo, see ``client._core``) and server error texts only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class AbejaError(Exception):
    """Base class of every error raised by this provider."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickles (XCom, trigger events) rebuild the error from its args and attributes, not by
        # calling __init__ again: subclasses take other arguments than their message.
        return (type(self).__new__, (type(self), *self.args), self.__dict__)


class InvalidArgumentError(AbejaError, ValueError):
    """An argument was refused before anything was sent; ``argument`` names it."""

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        self.reason = message
        super().__init__(f"{argument}: {message}")


class MissingCredentialsError(AbejaError):
    """No credential was given and none is in the environment; nothing was sent."""


class TransportError(AbejaError):
    """The request failed below HTTP (connect, read, TLS) after every allowed attempt."""

    def __init__(self, message: str, *, url: str, attempts: int) -> None:
        self.url = url
        self.attempts = attempts
        super().__init__(message)


class TLSMismatchError(TransportError):
    """An ``https://`` URL reached a server that speaks plain HTTP: no retry can fix that."""


class HttpError(AbejaError):
    """The server answered with an error status (or a 2xx body that is not what was expected)."""

    def __init__(
        self, error: str, error_description: str, status_code: int, url: str, error_detail: Any = None
    ) -> None:
        self.error = error
        self.error_description = error_description
        self.error_detail = error_detail
        self.status_code = status_code
        self.url = url
        described = f": {error_description}" if error_description else ""
        super().__init__(f"{status_code} {error}{described} ({url})")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, error={self.error!r}, "
            f"error_description={self.error_description!r}, url={self.url!r})"
        )


class BadRequest(HttpError):
    """400: invalid parameters, resource exists, service already running / not running."""


class Unauthorized(HttpError):
    """401: authentication failed."""


class Forbidden(HttpError):
    """403: the credential may not do this."""


class NotFound(HttpError):
    """404: no such organization, deployment, service or endpoint."""


class MethodNotAllowed(HttpError):
    """405."""


class Conflict(HttpError):
    """409."""


class InternalServerError(HttpError):
    """500."""


class InvalidResponseError(HttpError):
    """A 2xx answer whose body is not the JSON the API documents."""


class AnswerTooLargeError(InvalidResponseError):
    """A 2xx answer longer than the client reads into memory (``max_answer_bytes``): every retry
    would get it again."""


#: The HttpError subclass of each status that has one (other statuses raise ``HttpError``).
STATUS_EXCEPTIONS: dict[int, type[HttpError]] = {400: BadRequest, 401: Unauthorized, 403: Forbidden}
STATUS_EXCEPTIONS |= {404: NotFound, 405: MethodNotAllowed, 409: Conflict, 500: InternalServerError}


def with_log_lines(message: str, log_lines: Sequence[str], noun: str = "service") -> str:
    """A wait's failure or timeout message followed by the latest log lines of the ``noun``, if any."""
    if not log_lines:
        return message
    return message + f"\nLatest log lines of the {noun}:\n" + "\n".join(log_lines)


class _FailureStatusError(AbejaError):
    """A wait saw a resource (the ``noun``) reach a failure status; its id is the attribute named
    for the noun (``service_id``, ``training_job_id``, ``run_id``), ``log_lines`` are its latest,
    shown after the engine's ``message``."""

    noun = "service"

    def __init__(self, resource_id: str, status: str, log_lines: Sequence[str], message: str) -> None:
        setattr(self, f"{self.noun.replace(' ', '_')}_id", resource_id)
        self.status = status
        self.log_lines = list(log_lines)
        super().__init__(with_log_lines(message, self.log_lines, self.noun))


class ServiceFailedError(_FailureStatusError):
    """A wait saw the service reach a failure status."""

    service_id: str


class TrainingJobFailedError(_FailureStatusError):
    """A wait saw the training job end ``Failed`` or ``Stopped``; ``log_lines`` are its latest."""

    noun = "training job"
    training_job_id: str


class RunFailedError(_FailureStatusError):
    """A wait saw the run end ``FAILED`` (after the platform's own retries); ``log_lines`` are its latest."""

    noun = "run"
    run_id: str


class WaitTimeoutError(AbejaError):
    """A wait ran out of time before the resource reached its target status; ``message`` is the
    engine's (``wait.engine.timeout_message``), the same in every mode."""

    def __init__(self, service_id: str, last_status: str | None, timeout: float | None, message: str) -> None:
        self.service_id = service_id
        self.last_status = last_status
        self.timeout = timeout
        super().__init__(message)


class WaitStoppedError(AbejaError):
    """A wait ended early because its ``stop_event`` was set (the service itself is left as it is)."""

    def __init__(self, service_id: str, last_status: str | None = None, message: str | None = None) -> None:
        self.service_id = service_id
        self.last_status = last_status
        super().__init__(message or f"stopped waiting for service {service_id} (last status: {last_status})")


class WaitGaveUpError(AbejaError):
    """A wait ended on an error reading the service: a permanent one, or too many transient ones.

    ``retryable`` says whether an Airflow retry may help (see ``is_fail_fast``).
    """

    def __init__(self, service_id: str, message: str, retryable: bool = True) -> None:
        self.service_id = service_id
        self.retryable = retryable
        super().__init__(message)


# ----------------------------------------------------------------------------- one fail-fast rule

#: HTTP statuses that say "this request will never work": fail without Airflow retries. A redirect
#: (3xx) is one: the API never redirects, so the API URL is wrong, and no client follows one.
FAIL_FAST_HTTP_STATUSES: frozenset[int] = frozenset({400, 401, 403, 404, 405, 422, *range(300, 400)})
#: Errors that fail without Airflow retries whatever their details.
FAIL_FAST_ERRORS: tuple[type[AbejaError], ...] = (
    InvalidArgumentError,
    MissingCredentialsError,
    TLSMismatchError,
)
FAIL_FAST_ERRORS += (_FailureStatusError, AnswerTooLargeError)
#: HTTP statuses worth another try later (with any 5xx).
TRANSIENT_HTTP_STATUSES: frozenset[int] = frozenset({408, 425, 429})


def is_fail_fast(exc: BaseException) -> bool:
    """The one fail-fast rule: True when no retry can fix ``exc`` (docs/architecture.md, "Fail fast").

    Bad arguments, no credential, an ``https://`` URL to a plain-HTTP server, a failed service,
    an answer over ``max_answer_bytes``, a redirect, and answers 400, 401, 403, 404, 405 and 422.
    Everything else (transport errors, 408, 409, 425, 429, 5xx, a garbled answer, timeouts) is
    left to the task's retries.
    """
    if isinstance(exc, FAIL_FAST_ERRORS):
        return True
    if isinstance(exc, WaitGaveUpError):
        return not exc.retryable
    if isinstance(exc, InvalidResponseError):
        return False
    return isinstance(exc, HttpError) and exc.status_code in FAIL_FAST_HTTP_STATUSES


def is_transient(exc: BaseException) -> bool:
    """True for errors worth another poll: transport failures, 408/425/429, any 5xx, a garbled 2xx."""
    if isinstance(exc, TLSMismatchError | AnswerTooLargeError):
        return False
    if isinstance(exc, TransportError | InvalidResponseError):
        return True
    return isinstance(exc, HttpError) and (
        exc.status_code in TRANSIENT_HTTP_STATUSES or exc.status_code >= 500
    )
