"""Endpoint operators against the emulator: a blue/green switch, rollback, idempotent delete."""

from __future__ import annotations

import pytest
import requests
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_abeja.operators.endpoint import (
    AbejaCreateEndpointOperator,
    AbejaDeleteEndpointOperator,
    AbejaRouteEndpointOperator,
    AbejaUpdateEndpointOperator,
)
from airflow_provider_abeja.operators.service import AbejaRequestServiceOperator
from tests._context import FakeTI
from tests.integration.operators._support import (
    BAD_VERSION,
    OTHER_VERSION,
    SAMPLE_DEPLOYMENT,
    ready_service,
    route_count,
    run_operator,
)

pytestmark = pytest.mark.emulator


def endpoint_of(emulator, ref):
    response = requests.get(
        emulator.api_url(f"deployments/{SAMPLE_DEPLOYMENT}/endpoints/{ref}"), auth=emulator.auth, timeout=10
    )
    return response.status_code, (response.json() if response.ok else None)


def call_endpoint(emulator, alias):
    response = requests.post(
        emulator.inference_url(SAMPLE_DEPLOYMENT, alias=alias),
        json={"text": "good"},
        auth=emulator.auth,
        timeout=10,
    )
    response.raise_for_status()
    return response.headers.get("X-Abeja-Service-Id")


def test_blue_green_switch_and_rollback(emulator, context):
    blue = ready_service(emulator)
    green = ready_service(emulator, OTHER_VERSION)
    created = run_operator(
        AbejaCreateEndpointOperator(
            task_id="c", deployment_id=SAMPLE_DEPLOYMENT, service_id=blue, endpoint_alias="prod"
        ),
        context,
    )
    assert created["service_id"] == blue
    assert context["ti"].xcoms["endpoint_id"] == created["endpoint_id"]
    assert call_endpoint(emulator, "prod") == blue

    switch = AbejaUpdateEndpointOperator(
        task_id="s", deployment_id=SAMPLE_DEPLOYMENT, endpoint_alias="prod", service_id=green
    )
    result = run_operator(switch, context)
    assert result == {"endpoint_id": created["endpoint_id"], "service_id": green, "previous_service_id": blue}
    assert context["ti"].xcoms["previous_service_id"] == blue
    assert endpoint_of(emulator, "prod")[1]["service_id"] == green
    assert call_endpoint(emulator, "prod") == green

    rollback = AbejaUpdateEndpointOperator(
        task_id="r", deployment_id=SAMPLE_DEPLOYMENT, endpoint_alias=created["endpoint_id"], service_id=blue
    )
    assert run_operator(rollback, context)["previous_service_id"] == green
    assert endpoint_of(emulator, "prod")[1]["service_id"] == blue
    assert route_count(emulator, "update_endpoint") == 2


def test_create_endpoint_twice_makes_one(emulator, context):
    blue = ready_service(emulator)
    op = AbejaCreateEndpointOperator(task_id="c", deployment_id=SAMPLE_DEPLOYMENT, service_id=blue)
    first = run_operator(op, context)
    second = run_operator(op, context)
    assert first == second
    assert first["custom_alias"] == "default"
    counters = emulator.counters()
    assert (counters["endpoints_created"], counters["endpoints_total"]) == (1, 1)


def test_create_endpoint_taken_by_another_service_fails(emulator, context):
    blue = ready_service(emulator)
    green = ready_service(emulator, OTHER_VERSION)
    run_operator(
        AbejaCreateEndpointOperator(task_id="c", deployment_id=SAMPLE_DEPLOYMENT, service_id=blue), context
    )
    with pytest.raises(AirflowFailException, match="AbejaUpdateEndpointOperator"):
        run_operator(
            AbejaCreateEndpointOperator(task_id="c", deployment_id=SAMPLE_DEPLOYMENT, service_id=green),
            context,
        )
    assert emulator.counters()["endpoints_total"] == 1


def test_switch_to_a_failed_service_is_refused(emulator, context):
    blue = ready_service(emulator)
    broken = emulator.create_service(SAMPLE_DEPLOYMENT, BAD_VERSION)["service_id"]
    emulator.wait_for_status(SAMPLE_DEPLOYMENT, broken, "FAILED")
    run_operator(
        AbejaCreateEndpointOperator(task_id="c", deployment_id=SAMPLE_DEPLOYMENT, service_id=blue), context
    )
    switch = AbejaUpdateEndpointOperator(
        task_id="s", deployment_id=SAMPLE_DEPLOYMENT, endpoint_alias="default", service_id=broken
    )
    with pytest.raises(AirflowException, match="not READY"):
        run_operator(switch, context)
    assert endpoint_of(emulator, "default")[1]["service_id"] == blue
    assert route_count(emulator, "update_endpoint") == 0


def test_update_of_a_missing_endpoint_fails_without_retry(emulator, context):
    blue = ready_service(emulator)
    switch = AbejaUpdateEndpointOperator(
        task_id="s", deployment_id=SAMPLE_DEPLOYMENT, endpoint_alias="nope", service_id=blue
    )
    with pytest.raises(AirflowFailException, match="404"):
        run_operator(switch, context)


def test_delete_endpoint_then_again(emulator, context):
    blue = ready_service(emulator)
    run_operator(
        AbejaCreateEndpointOperator(
            task_id="c", deployment_id=SAMPLE_DEPLOYMENT, service_id=blue, endpoint_alias="tmp"
        ),
        context,
    )
    op = AbejaDeleteEndpointOperator(task_id="d", deployment_id=SAMPLE_DEPLOYMENT, endpoint_alias="tmp")
    assert run_operator(op, context) is not None
    assert endpoint_of(emulator, "tmp")[0] == 404
    assert run_operator(op, context) is None
    strict = AbejaDeleteEndpointOperator(
        task_id="d", deployment_id=SAMPLE_DEPLOYMENT, endpoint_alias="tmp", fail_if_missing=True
    )
    with pytest.raises(AirflowFailException, match="does not exist"):
        run_operator(strict, context)
    assert emulator.counters()["endpoints_deleted"] == 1


@pytest.mark.parametrize("alias", ["default", "prod"])
def test_request_through_an_endpoint_names_the_service_that_answered(emulator, context, alias):
    blue = ready_service(emulator)
    run_operator(
        AbejaCreateEndpointOperator(
            task_id="c", deployment_id=SAMPLE_DEPLOYMENT, service_id=blue, endpoint_alias=alias
        ),
        context,
    )
    op = AbejaRequestServiceOperator(
        task_id="r", deployment_id=SAMPLE_DEPLOYMENT, endpoint_alias=alias, json={"text": "good"}
    )
    ti = FakeTI()
    result = run_operator(op, {"ti": ti})
    assert "label" in result
    assert ti.xcoms["service_id"] == blue
    assert ti.xcoms["service_url"].endswith(f"/services/{blue}")
    assert route_count(emulator, "request_endpoint") == 1


def test_route_creates_then_switches_then_leaves_the_endpoint_alone(emulator, context):
    blue = ready_service(emulator)
    green = ready_service(emulator, OTHER_VERSION)

    def route(service_id):
        op = AbejaRouteEndpointOperator(
            task_id="route", deployment_id=SAMPLE_DEPLOYMENT, service_id=service_id, endpoint_alias="prod"
        )
        return run_operator(op, context)

    first = route(blue)
    assert (first["created"], first["previous_service_id"]) == (True, None)
    assert call_endpoint(emulator, "prod") == blue
    second = route(green)
    assert (second["created"], second["previous_service_id"]) == (False, blue)
    assert second["endpoint_id"] == first["endpoint_id"]
    assert call_endpoint(emulator, "prod") == green
    again = route(green)  # a retry after the switch went through
    assert again["previous_service_id"] == green
    assert route_count(emulator, "create_endpoint") == 1
    assert route_count(emulator, "update_endpoint") == 1
