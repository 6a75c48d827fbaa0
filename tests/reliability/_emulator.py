"""The reliability suite's emulator: the shipped ``EmulatorProcess`` with the suite's knobs.

Process management (own process group, log file, readiness, restart on the same port, stop by
group) is ``abeja_emulator.process.EmulatorProcess``'s. This adds what the
suite needs on top: sentinel credentials, a CA bundle for the control calls (TLS runs), the
server's output for the secrets search, and the control API under the names the tests use.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from abeja_emulator.process import EmulatorProcess
from airflow_provider_abeja.client.retry import RetryPolicy

ORGANIZATION_ID = "1234567890123"
DEPLOYMENT_ID = "9999999999999"
VERSION_ID = "ver-5a3d1e0000000001"
VERSION_ID_2 = "ver-5a3d1e0000000002"
BAD_VERSION_ID = "ver-bad0000000000001"
USER_ID = "1111111111111"
PERSONAL_ACCESS_TOKEN = "emulator-token"


class EmulatorServer(EmulatorProcess):
    """One emulator process on loopback with the given user credential; stopped by its process group."""

    def __init__(
        self,
        *,
        ready_delay: float = 0.2,
        extra_args: Sequence[str] = (),
        user_id: str = USER_ID,
        token: str = PERSONAL_ACCESS_TOKEN,
        control_verify: bool | str = True,
    ) -> None:
        credential_args = ["--user-id", user_id, "--personal-access-token", token]
        super().__init__(
            ready_delay=ready_delay,
            extra_args=[*credential_args, *extra_args],
            organization_id=ORGANIZATION_ID,
            verify=control_verify,
        )
        self.user_id = user_id
        self.token = token

    @property
    def credential(self) -> dict[str, str]:
        return {"user_id": self.user_id, "personal_access_token": self.token}

    @property
    def output(self) -> str:
        """Everything the process wrote to stdout and stderr so far (every start)."""
        return self.read_log()

    def reset(self) -> None:
        self.handle.reset()

    def counters(self) -> dict[str, Any]:
        return self.handle.counters()

    def state(self) -> dict[str, Any]:
        return self.handle.state()

    def inject_fault(self, **spec: Any) -> str:
        return self.handle.inject_fault(**spec)

    def clear_faults(self) -> None:
        self.handle.clear_faults()

    def configure(self, **settings: Any) -> dict[str, Any]:
        return self.handle.configure(**settings)

    def airflow_connection(self, **extra: Any) -> dict[str, Any]:
        """A JSON connection for ``AIRFLOW_CONN_<ID>`` pointing at this emulator."""
        return {
            "conn_type": "abeja",
            "host": self.url,
            "login": self.user_id,
            "password": self.token,
            "extra": {"organization_id": self.organization_id, **extra},
        }


@contextmanager
def capped_retry_waits(wait_max: float) -> Iterator[None]:
    """Every retry policy built meanwhile (each client's, sync and async, and the batch sender's)
    waits at most ``wait_max`` between tries, Retry-After included: the suite tests what is retried,
    not how long the waits are. The connection has no retry-wait field, so the cap goes on
    ``client.retry.RetryPolicy``, the public policy every client builds."""
    original = RetryPolicy.__init__

    def capped(self: RetryPolicy, retries: int, asked: float = 30.0, *args: Any, **kwargs: Any) -> None:
        original(self, retries, min(asked, wait_max), *args, **kwargs)

    RetryPolicy.__init__ = capped  # type: ignore[method-assign]
    try:
        yield
    finally:
        RetryPolicy.__init__ = original  # type: ignore[method-assign]
