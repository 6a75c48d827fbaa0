"""The waits on one deployment share one listing per smallest poll interval (``wait.pool``).

A fake lease stands for the shared client (``wait.pool.ClientLease``, tested in ``test_pool_clients.py``):
it counts listings and own reads and answers from a dict of services, so every sharing rule
is checked without timing. The same behaviours run against the emulator in
``tests/integration/wait/test_pool_listing_emulator.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_abeja.exceptions import Forbidden, InternalServerError, NotFound, TransportError
from airflow_provider_abeja.wait.engine import SERVICE, Outcome, WaitSpec, WaitState, step
from airflow_provider_abeja.wait.pool import Watch, group_count

ORG = "1234567890123"
DEP = "9999999999999"
#: Longer than any test: a listing stays fresh for the whole test.
LONG = 3600.0


def _ser(i: int) -> str:
    return f"ser-{i:016x}"


class FakeLease:
    """Answers like the platform from ``services``; records what was asked."""

    def __init__(self, services: dict[str, str], settings_key: str = "settings") -> None:
        self.services = services
        self.settings_key = settings_key
        self.listings = 0
        self.reads: list[str] = []
        self.listing_error: BaseException | None = None
        self.gate: asyncio.Event | None = None

    async def read(self, method: str, *ids: str) -> dict[str, Any]:
        return await getattr(self, method)(*ids)  # type: ignore[no-any-return]

    async def get_services(self, organization_id: str, deployment_id: str) -> dict[str, Any]:
        self.listings += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.listing_error is not None:
            raise self.listing_error
        return {"entries": [{"service_id": s, "status": st} for s, st in self.services.items()]}

    async def get_service(self, organization_id: str, deployment_id: str, service_id: str) -> dict[str, Any]:
        self.reads.append(service_id)
        if service_id not in self.services:
            raise NotFound("not_found", f"service {service_id} not found", 404, "url")
        return {"service_id": service_id, "status": self.services[service_id]}


def _watch(lease: FakeLease, i: int, interval: float = LONG) -> Watch:
    return Watch(lease, SERVICE, (ORG, DEP, _ser(i)), interval)  # type: ignore[arg-type]


async def test_waits_on_one_deployment_share_one_listing() -> None:
    lease = FakeLease({_ser(i): "IN_PROGRESS" for i in range(10)})
    watches = [_watch(lease, i).__enter__() for i in range(10)]
    seen = await asyncio.gather(*(w.observe() for w in watches))
    assert seen == [{"service_id": _ser(i), "status": "IN_PROGRESS"} for i in range(10)]
    assert (lease.listings, lease.reads) == (1, [])
    for watch in watches:
        watch.__exit__(None, None, None)
    assert group_count("get_services") == 0


async def test_a_fresh_listing_serves_each_wait_once() -> None:
    lease = FakeLease({_ser(1): "IN_PROGRESS", _ser(2): "IN_PROGRESS"})
    with _watch(lease, 1) as one, _watch(lease, 2) as two:
        await one.observe()
        await two.observe()  # the listing one asked for is fresh and new to two
        assert lease.listings == 1
        lease.services[_ser(1)] = "READY"
        assert await one.observe() == {"service_id": _ser(1), "status": "READY"}  # never the same twice
        assert lease.listings == 2


async def test_a_wait_alone_reads_its_service_directly() -> None:
    lease = FakeLease({_ser(1): "READY"})
    with _watch(lease, 1) as alone:
        assert await alone.observe() == {"service_id": _ser(1), "status": "READY"}
    assert (lease.listings, lease.reads) == (0, [_ser(1)])


async def test_a_service_missing_from_the_listing_gets_its_own_read() -> None:
    """Deleted mid-wait: the own read says not found, the outcome a lone wait gets."""
    lease = FakeLease({_ser(1): "IN_PROGRESS", _ser(2): "IN_PROGRESS"})
    with _watch(lease, 1) as kept, _watch(lease, 2) as deleted:
        await asyncio.gather(kept.observe(), deleted.observe())
        del lease.services[_ser(2)]
        kept_seen, deleted_seen = await asyncio.gather(kept.observe(), deleted.observe())
    assert kept_seen == {"service_id": _ser(1), "status": "IN_PROGRESS"}
    assert isinstance(deleted_seen, NotFound)
    assert lease.reads == [_ser(2)]
    spec = WaitSpec.build(_ser(2))
    ended = step(spec, WaitState(), deleted_seen, 0.0)
    assert (ended.outcome, ended.retryable) == (Outcome.ERROR, False)


@pytest.mark.parametrize(
    "error",
    [
        InternalServerError("unavailable", "try later", 503, "url"),
        TransportError("connection reset", url="url", attempts=1),
    ],
)
async def test_a_failed_listing_counts_once_against_each_waits_budget(error: BaseException) -> None:
    lease = FakeLease({_ser(1): "IN_PROGRESS", _ser(2): "IN_PROGRESS"})
    lease.listing_error = error
    specs = {i: WaitSpec.build(_ser(i), transient_error_budget=2) for i in (1, 2)}
    states = {1: WaitState(), 2: WaitState()}
    with _watch(lease, 1) as one, _watch(lease, 2) as two:
        watches = {1: one, 2: two}
        for rounds in range(1, 4):
            for i, watch in watches.items():
                result = step(specs[i], states[i], await watch.observe(), 0.0)
                states[i] = result.state
            # Both waits used the same failed listing (one request), each counted it once.
            assert lease.listings == rounds
            assert [states[i].errors_in_a_row for i in (1, 2)] == [rounds, rounds]
        assert result.outcome is Outcome.ERROR
        assert "after 3 transient errors in a row (budget 2)" in result.message
        lease.listing_error = None
        assert await one.observe() == {"service_id": _ser(1), "status": "IN_PROGRESS"}
    assert lease.reads == []


async def test_a_listing_refused_sends_each_wait_to_its_own_read() -> None:
    """Not an error a retry fixes, and not about the service: its own read decides, as before."""
    lease = FakeLease({_ser(1): "READY", _ser(2): "IN_PROGRESS"})
    lease.listing_error = Forbidden("forbidden", "no listing for you", 403, "url")
    with _watch(lease, 1) as one, _watch(lease, 2) as two:
        seen = await asyncio.gather(one.observe(), two.observe())
    assert seen == [
        {"service_id": _ser(1), "status": "READY"},
        {"service_id": _ser(2), "status": "IN_PROGRESS"},
    ]
    assert sorted(lease.reads) == [_ser(1), _ser(2)]


async def test_the_smallest_interval_among_the_waits_decides_how_fresh_a_listing_must_be() -> None:
    lease = FakeLease({_ser(i): "IN_PROGRESS" for i in range(3)})
    with _watch(lease, 0, LONG) as slow, _watch(lease, 1, LONG) as slow_too:
        await slow.observe()
        await slow_too.observe()
        assert lease.listings == 1  # shared: the listing is younger than both intervals
        with _watch(lease, 2, 0.0) as fast:
            await fast.observe()  # nothing is fresh for a 0 s interval: a new listing
            await slow_too.observe()  # the group's interval is now 0 s: for the slow waits too
            assert lease.listings == 3
        await slow.observe()  # the fast wait left: the latest listing is fresh again, new to slow
        assert lease.listings == 3
        await slow_too.observe()  # slow_too has seen it
        await slow.observe()  # and slow shares slow_too's
        assert lease.listings == 4


async def test_waits_joined_to_a_listing_get_it_when_the_wait_that_asked_is_cancelled() -> None:
    lease = FakeLease({_ser(1): "IN_PROGRESS", _ser(2): "READY"})
    lease.gate = asyncio.Event()
    with _watch(lease, 1) as asker, _watch(lease, 2) as joined:
        asking = asyncio.ensure_future(asker.observe())
        await asyncio.sleep(0)
        joining = asyncio.ensure_future(joined.observe())
        await asyncio.sleep(0)
        asking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asking
        lease.gate.set()
        assert await joining == {"service_id": _ser(2), "status": "READY"}


async def test_other_settings_or_deployments_are_other_groups() -> None:
    one, other = FakeLease({_ser(1): "READY"}), FakeLease({_ser(2): "READY"}, settings_key="edited")
    with _watch(one, 1), _watch(other, 2), Watch(one, SERVICE, (ORG, "8888888888888", _ser(3)), LONG):  # type: ignore[arg-type]
        assert group_count("get_services") == 3
    assert group_count("get_services") == 0
