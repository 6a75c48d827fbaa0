"""Endpoints: CRUD by id and alias, switching the service, inference through default and alias routes."""

from __future__ import annotations

import re

import pytest
import requests

from abeja_emulator import SAMPLE_VERSION_ID, SAMPLE_VERSION_ID_V2

from ._util import DEP, api, ready_service

pytestmark = pytest.mark.emulator


def test_endpoint_crud_and_switch(abeja_emulator):
    blue = ready_service(abeja_emulator, SAMPLE_VERSION_ID)
    green = ready_service(abeja_emulator, SAMPLE_VERSION_ID_V2)
    created = api(abeja_emulator, "POST", f"deployments/{DEP}/endpoints", json={"service_id": blue})
    assert created.status_code == 200
    body = created.json()
    assert re.fullmatch(r"pnt-[0-9a-f]{16}", body["endpoint_id"])
    assert body == {"endpoint_id": body["endpoint_id"], "custom_alias": "default", "service_id": blue}
    endpoint_id = body["endpoint_id"]

    assert api(abeja_emulator, "GET", f"deployments/{DEP}/endpoints/{endpoint_id}").json() == body
    assert api(abeja_emulator, "GET", f"deployments/{DEP}/endpoints/default").json() == body
    assert api(abeja_emulator, "GET", f"deployments/{DEP}/endpoints").json() == {"entries": [body]}

    default_url = abeja_emulator.inference_url(DEP)
    first = requests.post(default_url, json={"text": "slow"}, auth=abeja_emulator.auth, timeout=10)
    assert first.headers["X-Abeja-Service-Id"] == blue
    assert first.json()["model_version"] == "1.0.0"

    switched = api(
        abeja_emulator, "PATCH", f"deployments/{DEP}/endpoints/default", json={"service_id": green}
    )
    assert switched.json() == {"message": f"{endpoint_id} updated"}
    second = requests.post(default_url, json={"text": "slow"}, auth=abeja_emulator.auth, timeout=10)
    assert second.headers["X-Abeja-Service-Id"] == green
    assert second.json()["model_version"] == "1.1.0"

    deleted = api(abeja_emulator, "DELETE", f"deployments/{DEP}/endpoints/{endpoint_id}")
    assert deleted.json() == {"message": f"{endpoint_id} deleted"}
    assert api(abeja_emulator, "GET", f"deployments/{DEP}/endpoints/{endpoint_id}").status_code == 404
    gone = requests.post(default_url, json={"text": "slow"}, auth=abeja_emulator.auth, timeout=10)
    assert gone.status_code == 404
    counters = abeja_emulator.counters()
    assert (counters["endpoints_created"], counters["endpoints_deleted"]) == (1, 1)
    assert counters["requests"]["request_endpoint"] == 3


def test_alias_routes_both_styles(abeja_emulator):
    service_id = ready_service(abeja_emulator, SAMPLE_VERSION_ID)
    created = api(
        abeja_emulator,
        "POST",
        f"deployments/{DEP}/endpoints",
        json={"service_id": service_id, "custom_alias": "canary"},
    ).json()
    assert created["custom_alias"] == "canary"
    path_style = requests.post(
        abeja_emulator.inference_url(DEP, alias="canary"),
        json={"text": "good"},
        auth=abeja_emulator.auth,
        timeout=10,
    )
    assert path_style.status_code == 200
    vhost = requests.post(
        f"{abeja_emulator.url}/deployments/{DEP}/canary",
        json={"text": "good"},
        auth=abeja_emulator.auth,
        headers={"Host": "1234567890123.localhost"},
        timeout=10,
    )
    assert vhost.status_code == 200
    assert vhost.json() == path_style.json()
    no_default = requests.post(
        abeja_emulator.inference_url(DEP), json={"text": "good"}, auth=abeja_emulator.auth, timeout=10
    )
    assert no_default.status_code == 404


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({}, 400),
        ({"service_id": "ser-0000000000000000"}, 400),
        ({"service_id": "__SER__", "custom_alias": "bad alias!"}, 400),
        ({"service_id": "__SER__", "custom_alias": "pnt-0123456789abcdef"}, 400),
    ],
)
def test_create_endpoint_rejects(abeja_emulator, payload, status):
    service_id = api(
        abeja_emulator, "POST", f"deployments/{DEP}/services", json={"version_id": SAMPLE_VERSION_ID}
    )
    payload = {k: (service_id.json()["service_id"] if v == "__SER__" else v) for k, v in payload.items()}
    assert api(abeja_emulator, "POST", f"deployments/{DEP}/endpoints", json=payload).status_code == status
    assert abeja_emulator.counters()["endpoints_created"] == 0


def test_duplicate_alias_and_unknown_endpoints(abeja_emulator):
    service_id = api(
        abeja_emulator, "POST", f"deployments/{DEP}/services", json={"version_id": SAMPLE_VERSION_ID}
    )
    ser = service_id.json()["service_id"]
    assert (
        api(abeja_emulator, "POST", f"deployments/{DEP}/endpoints", json={"service_id": ser}).status_code
        == 200
    )
    again = api(abeja_emulator, "POST", f"deployments/{DEP}/endpoints", json={"service_id": ser})
    assert again.status_code == 400
    for method in ("GET", "PATCH", "DELETE"):
        missing = api(
            abeja_emulator,
            method,
            f"deployments/{DEP}/endpoints/pnt-0000000000000000",
            json={"service_id": ser},
        )
        assert missing.status_code == 404
    bad_switch = api(
        abeja_emulator, "PATCH", f"deployments/{DEP}/endpoints/default", json={"service_id": "ser-0"}
    )
    assert bad_switch.status_code == 400
