"""Ids are checked before anything is sent; the error names the bad argument."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest
import requests_mock as rm

from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.exceptions import InvalidArgumentError

from .conftest import DEP, ORG, PNT, SER, VER

BAD_PATH_IDS = [
    "",
    "a/b",
    "../x",
    "..",
    "x?y",
    "x#y",
    "a b",
    " x",
    "x\n",
    "a%2Fb",
    "a@b",
    "a\\b",
    "\u00e9",
    "x\x00",
]
BAD_ORG_IDS = [
    "evil.example#",
    "evil.example",
    "a.b",
    "",
    "-abc",
    "abc-",
    "a_b",
    "x" * 64,
    "a:80",
    "a/b",
    "a b",
]

# method name -> (callable building the call from (org, dep, ser), argument name of each position)
CALLS: dict[str, Callable[[APIClient, str, str, str], Any]] = {
    "create_service": lambda c, o, d, s: c.create_service(o, d, VER),
    "get_service": lambda c, o, d, s: c.get_service(o, d, s),
    "get_services": lambda c, o, d, s: c.get_services(o, d),
    "delete_service": lambda c, o, d, s: c.delete_service(o, d, s),
    "update_service": lambda c, o, d, s: c.update_service(o, d, s, {}),
    "start_service": lambda c, o, d, s: c.start_service(o, d, s),
    "stop_service": lambda c, o, d, s: c.stop_service(o, d, s),
    "get_service_recent_logs": lambda c, o, d, s: c.get_service_recent_logs(o, d, s),
    "request_service": lambda c, o, d, s: c.request_service(o, d, s, json={}),
    "create_endpoint": lambda c, o, d, s: c.create_endpoint(o, d, s),
    "get_endpoints": lambda c, o, d, s: c.get_endpoints(o, d),
    "update_endpoint": lambda c, o, d, s: c.update_endpoint(o, d, PNT, s),
    "request_endpoint": lambda c, o, d, s: c.request_endpoint(o, d, None, json={}),
}
TAKES_SERVICE = [
    "create_endpoint",
    "delete_service",
    "get_service",
    "get_service_recent_logs",
    "request_service",
    "start_service",
    "stop_service",
    "update_endpoint",
    "update_service",
]


@pytest.fixture
def nothing_sent(requests_mock: rm.Mocker) -> rm.Mocker:
    """Any request at all would be answered, and counted."""
    requests_mock.register_uri(rm.ANY, rm.ANY, json={})
    return requests_mock


@pytest.mark.parametrize("bad", BAD_ORG_IDS)
@pytest.mark.parametrize("method", sorted(CALLS))
def test_bad_organization_id(client: APIClient, nothing_sent: rm.Mocker, method: str, bad: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        CALLS[method](client, bad, DEP, SER)
    assert info.value.argument == "organization_id"
    assert "organization_id" in str(info.value)
    assert nothing_sent.call_count == 0


@pytest.mark.parametrize("bad", BAD_PATH_IDS)
@pytest.mark.parametrize("method", sorted(CALLS))
def test_bad_deployment_id(client: APIClient, nothing_sent: rm.Mocker, method: str, bad: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        CALLS[method](client, ORG, bad, SER)
    assert info.value.argument == "deployment_id"
    assert nothing_sent.call_count == 0


@pytest.mark.parametrize("bad", BAD_PATH_IDS)
@pytest.mark.parametrize("method", TAKES_SERVICE)
def test_bad_service_id(client: APIClient, nothing_sent: rm.Mocker, method: str, bad: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        CALLS[method](client, ORG, DEP, bad)
    assert info.value.argument == "service_id"
    assert nothing_sent.call_count == 0


@pytest.mark.parametrize("bad", BAD_PATH_IDS)
def test_bad_other_ids(client: APIClient, nothing_sent: rm.Mocker, bad: str) -> None:
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("version_id", lambda: client.create_service(ORG, DEP, bad)),
        ("endpoint", lambda: client.get_endpoint(ORG, DEP, bad)),
        ("endpoint", lambda: client.update_endpoint(ORG, DEP, bad, SER)),
        ("endpoint", lambda: client.delete_endpoint(ORG, DEP, bad)),
        ("custom_alias", lambda: client.create_endpoint(ORG, DEP, SER, bad)),
        ("custom_alias", lambda: client.request_endpoint(ORG, DEP, bad, json={})),
    ]
    for argument, call in cases:
        with pytest.raises(InvalidArgumentError) as info:
            call()
        assert info.value.argument == argument
    assert nothing_sent.call_count == 0


@pytest.mark.parametrize("bad", [None, 1234567890123, b"123"])
def test_non_string_ids(client: APIClient, nothing_sent: rm.Mocker, bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="organization_id"):
        client.get_service(bad, DEP, SER)
    with pytest.raises(InvalidArgumentError, match="service_id"):
        client.get_service(ORG, DEP, bad)
    assert nothing_sent.call_count == 0


def test_valid_ids_with_unusual_but_harmless_characters_are_quoted(
    client: APIClient, nothing_sent: rm.Mocker
) -> None:
    client.get_endpoint(ORG, DEP, "blue:green;v=1")
    assert nothing_sent.request_history[0].path.endswith("/endpoints/blue%3agreen%3bv%3d1")


#: A valid value for every argument a declared call takes (training calls included).
VALID: dict[str, Any] = {
    "organization_id": ORG,
    "deployment_id": DEP,
    "service_id": SER,
    "endpoint": PNT,
    "custom_alias": "canary",
    "job_definition_name": "defn",
    "training_job_id": "1111111111111",
    "model_id": "2222222222222",
    "source": b"PK-zip",
    "model_data": b"PK-zip",
    "code": b"\x1f\x8b-tar-gz",
    "handler": "main:handler",
    "version": "1.0.0",
    "statistics": {},
    "payload": {},
    "json": {},
    "run_id": "run-3333333333333333",
    "trigger_id": "tri-3333333333333333",
    "channel_id": "2222222222222",
    "file_id": "20180101T112233-44444444-5555-6666-7777-888888888888",
    "input_service_id": "2222222222222",
    "name": "inputs",
    "data": b"x",
}


def _path_arguments() -> list[tuple[str, str]]:
    from airflow_provider_abeja.client.api import OPERATIONS

    declared = [
        (name, argument)
        for name, op in sorted(OPERATIONS.items())
        if op.plane != "presigned"
        for argument in re.findall(r"\{(\w+)\??\}", op.path)
        if not op.internal and argument in inspect.signature(getattr(APIClient, name)).parameters
    ]
    # A method made of several calls checks its ids before its first request too.
    composed = "create_training_model_from_job"
    return declared + [(composed, a) for a in ("organization_id", "job_definition_name", "training_job_id")]


@pytest.mark.parametrize(("method", "argument"), _path_arguments())
def test_every_declared_path_argument_is_checked_before_sending(
    client: APIClient, nothing_sent: rm.Mocker, method: str, argument: str
) -> None:
    """Training calls too: a numbered ``version_id`` and a plain id both refuse ``a/b``."""
    from airflow_provider_abeja.client.api import OPERATIONS

    parameters = inspect.signature(getattr(APIClient, method)).parameters
    numbered = method in OPERATIONS and "version_id" in OPERATIONS[method].path_values
    args = {
        name: (1 if numbered else VER) if name == "version_id" else VALID[name]
        for name, parameter in parameters.items()
        if name != "self" and parameter.default is inspect.Parameter.empty
    }
    args[argument] = "a/b"
    with pytest.raises(InvalidArgumentError) as info:
        getattr(client, method)(**args)
    assert info.value.argument == argument
    assert nothing_sent.call_count == 0


@pytest.mark.parametrize(
    "method",
    [
        "get_training_job_definition_version",
        "delete_training_job_definition_version",
        "archive_training_job_definition_version",
        "create_training_job",
    ],
)
@pytest.mark.parametrize("version_id", ["ver-1", 0, True])
def test_a_job_definition_version_is_a_whole_number(
    client: APIClient, nothing_sent: rm.Mocker, method: str, version_id: object
) -> None:
    """The Training API numbers a definition's versions: anything but a number >= 1 is refused unsent."""
    with pytest.raises(InvalidArgumentError, match="whole number >= 1") as info:
        getattr(client, method)(ORG, "defn", version_id)
    assert info.value.argument == "version_id"
    assert nothing_sent.call_count == 0
