"""Hostile input to the client: every case is refused before anything leaves the process.

Two independent proofs per case: a socket-level guard (``no_network``) records any name lookup or
connect while the call runs, and the live emulator's request counters stay at zero afterwards.
The error must be ``InvalidArgumentError`` naming the offending argument.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_abeja.client import APIClient, AsyncAPIClient
from airflow_provider_abeja.exceptions import InvalidArgumentError
from tests.reliability._netguard import no_network

pytestmark = pytest.mark.emulator

ORG = "1234567890123"
DEP = "9999999999999"
SER = "ser-0123456789abcdef"
VER = "ver-5a3d1e0000000001"

Call = Callable[[APIClient], Any]


@dataclass(frozen=True)
class Case:
    name: str
    call: Call
    argument: str
    #: the client for this case resolves inference to the organization's own host
    virtual_host: bool = False
    #: a known gap, reported; the test stays strict so that the fix turns it green loudly
    gap: str | None = None


def _org(value: Any) -> Call:
    return lambda c: c.get_services(value, DEP)


def _org_infer(value: Any) -> Call:
    return lambda c: c.request_service(value, DEP, SER, json={"x": 1})


def _dep(value: Any) -> Call:
    return lambda c: c.get_services(ORG, value)


def _ser(method: str) -> Callable[[Any], Call]:
    return lambda value: lambda c: getattr(c, method)(ORG, DEP, value)


def _create(**kwargs: Any) -> Call:
    version_id = kwargs.pop("version_id", VER)  # popped once, here: the call may run twice
    return lambda c: c.create_service(ORG, DEP, version_id, **kwargs)


def _update(payload: Any) -> Call:
    return lambda c: c.update_service(ORG, DEP, SER, payload=payload)


class _NotJson:
    """An object json.dumps cannot encode."""


ID_CASES: list[Case] = [
    # organization id becomes a host label (virtual-host inference): host injection
    Case("org-hash-host-injection", _org_infer("evil.example#"), "organization_id", virtual_host=True),
    Case("org-dotted", _org_infer("a.b"), "organization_id", virtual_host=True),
    Case("org-slash", _org_infer("evil.example/"), "organization_id", virtual_host=True),
    Case("org-userinfo", _org_infer("x@evil"), "organization_id", virtual_host=True),
    Case("org-dotdot", _org_infer(".."), "organization_id", virtual_host=True),
    Case("org-colon-port", _org_infer("evil.example:80"), "organization_id", virtual_host=True),
    Case("org-empty", _org(""), "organization_id"),
    Case("org-leading-space", _org(" " + ORG), "organization_id"),
    Case("org-newline", _org("12345\n67890123"), "organization_id"),
    Case("org-fullwidth-unicode", _org("".join(chr(0xFF10 + int(d)) for d in ORG)), "organization_id"),
    Case("org-64-chars", _org("a" * 64), "organization_id"),
    Case("org-leading-hyphen", _org("-abc"), "organization_id"),
    Case("org-percent-encoded-dots", _org("%2e%2e"), "organization_id"),
    Case("org-query", _org(ORG + "?x=1"), "organization_id"),
    Case("org-int-not-str", _org(1234567890123), "organization_id"),
    Case("org-none", _org(None), "organization_id"),
    # deployment id: path traversal and reserved characters
    Case("dep-traversal", _dep("../" + DEP), "deployment_id"),
    Case("dep-slash", _dep("a/b"), "deployment_id"),
    Case("dep-dotdot", _dep(".."), "deployment_id"),
    Case("dep-percent-encoded-dots", _dep("%2e%2e"), "deployment_id"),
    Case("dep-percent-encoded-slash", _dep("a%2Fb"), "deployment_id"),
    Case("dep-query", _dep(DEP + "?x=1"), "deployment_id"),
    Case("dep-fragment", _dep(DEP + "#x"), "deployment_id"),
    Case("dep-at", _dep("user@host"), "deployment_id"),
    Case("dep-backslash", _dep("a\\..\\b"), "deployment_id"),
    Case("dep-empty", _dep(""), "deployment_id"),
    Case("dep-space", _dep("9999 9999"), "deployment_id"),
    Case("dep-tab", _dep(DEP + "\t"), "deployment_id"),
    Case("dep-nul", _dep(DEP + "\x00"), "deployment_id"),
    Case("dep-unicode", _dep("déploiement"), "deployment_id"),
    Case("dep-unicode-slash-lookalike", _dep("a\u2215b"), "deployment_id"),
    Case("dep-very-long", _dep("9" * 10_000), "deployment_id"),
    Case("dep-list-not-str", _dep([DEP]), "deployment_id"),
    # service id on every service route
    Case("ser-traversal-delete", _ser("delete_service")("../../services"), "service_id"),
    Case("ser-route-injection-stop", _ser("stop_service")(SER + "/start"), "service_id"),
    Case("ser-dotdot-get", _ser("get_service")(".."), "service_id"),
    Case("ser-percent-slash-start", _ser("start_service")("ser-1%2F..%2F"), "service_id"),
    Case("ser-query-logs", _ser("get_service_recent_logs")(SER + "?next_forward_token=x"), "service_id"),
    Case("ser-fragment-update", lambda c: c.update_service(ORG, DEP, SER + "#", {}), "service_id"),
    Case("ser-newline-request", lambda c: c.request_service(ORG, DEP, SER + "\n", json={}), "service_id"),
    Case("ser-empty-get", _ser("get_service")(""), "service_id"),
    Case("ser-very-long-get", _ser("get_service")("ser-" + "0" * 10_000), "service_id"),
    # endpoints: id / alias in the path, service id in the body
    Case("endpoint-traversal-delete", lambda c: c.delete_endpoint(ORG, DEP, "pnt-1/../x"), "endpoint"),
    Case("endpoint-query-update", lambda c: c.update_endpoint(ORG, DEP, "default?x", SER), "endpoint"),
    Case("endpoint-unicode-get", lambda c: c.get_endpoint(ORG, DEP, "défaut"), "endpoint"),
    Case("alias-slash-request", lambda c: c.request_endpoint(ORG, DEP, "a/b", json={}), "custom_alias"),
    Case("alias-hash-create", lambda c: c.create_endpoint(ORG, DEP, SER, "x#y"), "custom_alias"),
    Case("endpoint-target-traversal", lambda c: c.update_endpoint(ORG, DEP, "default", "../x"), "service_id"),
    Case("create-endpoint-service-empty", lambda c: c.create_endpoint(ORG, DEP, ""), "service_id"),
    Case("version-traversal", _create(version_id="ver-1/../x"), "version_id"),
]

PAYLOAD_CASES: list[Case] = [
    Case("update-payload-str", _update("instance_number=2"), "payload"),
    Case("update-payload-list", _update([["instance_number", 2]]), "payload"),
    Case("update-instances-negative", _update({"instance_number": -1}), "payload.instance_number"),
    Case("update-instances-zero", _update({"instance_number": 0}), "payload.instance_number"),
    Case("update-instances-bool", _update({"instance_number": True}), "payload.instance_number"),
    Case(
        "update-min-over-max",
        _update({"min_instance_number": 5, "max_instance_number": 2}),
        "payload.min_instance_number",
    ),
    Case("update-autoscale-word", _update({"enable_autoscale": "maybe"}), "payload.enable_autoscale"),
    Case("update-instance-type-int", _update({"instance_type": 4}), "payload.instance_type"),
    Case("update-version-traversal", _update({"version_id": "../ver"}), "payload.version_id"),
    Case("update-env-value-int", _update({"environment": {"A": 1}}), "payload.environment"),
    Case("update-env-name-equals", _update({"environment": {"A=B": "x"}}), "payload.environment"),
    Case("create-environment-not-dict", _create(environment="A=B"), "environment"),
    Case("create-environment-value-int", _create(environment={"KEY": 1}), "environment"),
    Case("create-environment-value-none", _create(environment={"KEY": None}), "environment"),
    Case("create-environment-key-empty", _create(environment={"": "v"}), "environment"),
    Case("create-environment-key-equals", _create(environment={"A=B": "v"}), "environment"),
    Case("create-environment-key-newline", _create(environment={"A\nB": "v"}), "environment"),
    Case("create-environment-key-int", _create(environment={1: "v"}), "environment"),
    Case("create-instance-number-zero", _create(instance_number=0), "instance_number"),
    Case("create-instance-number-negative", _create(instance_number=-1), "instance_number"),
    Case("create-instance-number-bool", _create(instance_number=True), "instance_number"),
    Case("create-instance-number-float", _create(instance_number=1.5), "instance_number"),
    Case("create-min-negative", _create(min_instance_number=-1), "min_instance_number"),
    Case("create-max-zero", _create(max_instance_number=0), "max_instance_number"),
    Case(
        "create-min-above-max",
        _create(min_instance_number=3, max_instance_number=2),
        "min_instance_number",
    ),
    Case("create-instance-type-int", _create(instance_type=5), "instance_type"),
    Case("create-instance-type-empty", _create(instance_type=""), "instance_type"),
    Case("create-autoscale-not-bool", _create(enable_autoscale="maybe"), "enable_autoscale"),
    Case("create-model-id-traversal", _create(model_id="../3333333333333"), "model_id"),
    Case(
        "request-json-not-serialisable", lambda c: c.request_service(ORG, DEP, SER, json=_NotJson()), "json"
    ),
    Case("request-data-int", lambda c: c.request_service(ORG, DEP, SER, data=12345), "data"),
    Case("request-data-and-json", lambda c: c.request_service(ORG, DEP, SER, data=b"x", json={}), "data"),
    Case(
        "request-content-type-header-injection",
        lambda c: c.request_service(ORG, DEP, SER, data=b"x", content_type="text/plain\r\nX-Evil: 1"),
        "content_type",
    ),
]


def _client(emulator: Any, *, virtual_host: bool) -> APIClient:
    """A fresh client (no pooled connection to slip past the guard), retries off."""
    return APIClient(
        emulator.credential,
        timeout=5,
        max_retry_count=0,
        api_url=emulator.url,
        inference_addressing="virtual-host" if virtual_host else "path",
    )


def _assert_refused(case: Case, emulator: Any) -> None:
    before = emulator.counters()["requests"]
    with (
        _client(emulator, virtual_host=case.virtual_host) as client,
        no_network() as attempts,
        pytest.raises(InvalidArgumentError) as info,
    ):
        case.call(client)
    assert attempts == [], f"{case.name}: the network was reached: {attempts}"
    assert info.value.argument == case.argument
    assert case.argument in str(info.value)
    assert emulator.counters()["requests"] == before, f"{case.name}: the emulator saw a request"


def _params(cases: list[Case]) -> list[Any]:
    return [
        pytest.param(c, id=c.name, marks=[pytest.mark.xfail(strict=True, reason=c.gap)] if c.gap else [])
        for c in cases
    ]


@pytest.mark.parametrize("case", _params(ID_CASES))
def test_hostile_id_is_refused_before_any_request(case: Case, abeja_emulator_module: Any) -> None:
    _assert_refused(case, abeja_emulator_module)


@pytest.mark.parametrize("case", _params(PAYLOAD_CASES))
def test_hostile_payload_is_refused_before_any_request(case: Case, abeja_emulator_module: Any) -> None:
    _assert_refused(case, abeja_emulator_module)


def test_the_guard_and_counters_do_see_a_real_request(abeja_emulator_module: Any) -> None:
    """Control: a valid call is seen by both proofs, so a silent pass above means 'nothing sent'."""
    before = sum(abeja_emulator_module.counters()["requests"].values())
    with _client(abeja_emulator_module, virtual_host=False) as client:
        with no_network() as attempts, pytest.raises(Exception):  # noqa: B017
            client.get_services(ORG, DEP)
        assert attempts, "the guard missed a real connection attempt"
        client.get_services(ORG, DEP)
    assert sum(abeja_emulator_module.counters()["requests"].values()) == before + 1


def _async_client(emulator: Any, *, virtual_host: bool) -> AsyncAPIClient:
    return AsyncAPIClient(
        emulator.credential,
        timeout=5,
        max_retry_count=0,
        api_url=emulator.url,
        inference_addressing="virtual-host" if virtual_host else "path",
    )


def _method(case: Case) -> str:
    """The client method a case calls."""
    called: list[str] = []

    class Probe:
        def __getattr__(self, name: str) -> Any:
            called.append(name)
            return lambda *args, **kwargs: None

    case.call(Probe())  # type: ignore[arg-type]
    return called[0]


#: The cases on calls the async client has (the ones triggers await).
ASYNC_CASES = [c for c in ID_CASES + PAYLOAD_CASES if hasattr(AsyncAPIClient, _method(c))]


@pytest.mark.parametrize("case", _params(ASYNC_CASES))
def test_async_client_refuses_the_same_input_before_any_request(
    case: Case, abeja_emulator_module: Any
) -> None:
    """The trigger's client shares the id checks (one implementation): same refusals, same names."""
    before = abeja_emulator_module.counters()["requests"]

    async def call() -> None:
        client = _async_client(abeja_emulator_module, virtual_host=case.virtual_host)
        try:
            result = case.call(client)  # type: ignore[arg-type]
            if inspect.isawaitable(result):
                await result
        finally:
            await client.aclose()

    with no_network() as attempts, pytest.raises(InvalidArgumentError) as info:
        asyncio.run(call())
    assert attempts == [], f"{case.name}: the network was reached: {attempts}"
    assert info.value.argument == case.argument
    assert abeja_emulator_module.counters()["requests"] == before
