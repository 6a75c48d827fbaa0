"""Endpoint operators against a mocked HTTP API: reuse, READY check, previous service, 404."""

from __future__ import annotations

import json

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_abeja.operators.endpoint import (
    AbejaCreateEndpointOperator,
    AbejaDeleteEndpointOperator,
    AbejaRouteEndpointOperator,
    AbejaUpdateEndpointOperator,
)
from tests._context import FakeTI

API = "http://api.test"
ORG = "1234567890123"
DEP = "9999999999999"
BLUE = "ser-b1ue000000000001"
GREEN = "ser-9ree000000000002"
PNT = "pnt-0123456789abcdef"
SERVICES = f"{API}/organizations/{ORG}/deployments/{DEP}/services"
ENDPOINTS = f"{API}/organizations/{ORG}/deployments/{DEP}/endpoints"


@pytest.fixture
def context():
    return {"ti": FakeTI()}


@pytest.fixture(autouse=True)
def connection(monkeypatch):
    extra = {"organization_id": ORG, "auth_token": "unit-token", "max_retry_count": 0}
    monkeypatch.setenv(
        "AIRFLOW_CONN_ABEJA_DEFAULT", json.dumps({"conn_type": "abeja", "host": API, "extra": extra})
    )


def ready(requests_mock, service_id, status="READY"):
    requests_mock.get(f"{SERVICES}/{service_id}", json={"service_id": service_id, "status": status})


def test_create_endpoint_for_a_ready_service(requests_mock, context):
    ready(requests_mock, BLUE)
    requests_mock.get(ENDPOINTS, json={"entries": []})
    post = requests_mock.post(
        ENDPOINTS, json={"endpoint_id": PNT, "custom_alias": "default", "service_id": BLUE}
    )
    result = AbejaCreateEndpointOperator(task_id="c", deployment_id=DEP, service_id=BLUE).execute(context)
    assert post.last_request.json() == {"service_id": BLUE, "custom_alias": "default"}
    assert result == {"endpoint_id": PNT, "custom_alias": "default", "service_id": BLUE}
    assert context["ti"].xcoms["endpoint_id"] == PNT
    assert context["ti"].xcoms["service_id"] == BLUE


def test_create_endpoint_reuses_the_same_route_and_refuses_another(requests_mock, context):
    ready(requests_mock, BLUE)
    ready(requests_mock, GREEN)
    entry = {"endpoint_id": PNT, "custom_alias": "prod", "service_id": BLUE}
    requests_mock.get(ENDPOINTS, json={"entries": [entry]})
    post = requests_mock.post(ENDPOINTS, json=entry)
    op = AbejaCreateEndpointOperator(task_id="c", deployment_id=DEP, service_id=BLUE, endpoint_alias="prod")
    assert op.execute(context)["endpoint_id"] == PNT
    other = AbejaCreateEndpointOperator(
        task_id="c", deployment_id=DEP, service_id=GREEN, endpoint_alias="prod"
    )
    with pytest.raises(AirflowFailException, match="AbejaUpdateEndpointOperator"):
        other.execute(context)
    assert post.call_count == 0


def test_create_endpoint_refuses_a_service_that_is_not_ready(requests_mock, context):
    ready(requests_mock, BLUE, "IN_PROGRESS")
    post = requests_mock.post(ENDPOINTS, json={})
    with pytest.raises(AirflowException, match="not READY"):
        AbejaCreateEndpointOperator(task_id="c", deployment_id=DEP, service_id=BLUE).execute(context)
    assert post.call_count == 0


def test_update_endpoint_pushes_the_previous_service(requests_mock, context):
    ready(requests_mock, GREEN)
    requests_mock.get(
        f"{ENDPOINTS}/prod", json={"endpoint_id": PNT, "custom_alias": "prod", "service_id": BLUE}
    )
    patch = requests_mock.patch(f"{ENDPOINTS}/prod", json={"message": f"{PNT} updated"})
    op = AbejaUpdateEndpointOperator(task_id="u", deployment_id=DEP, endpoint_alias="prod", service_id=GREEN)
    result = op.execute(context)
    assert patch.last_request.json() == {"service_id": GREEN}
    assert result == {"endpoint_id": PNT, "service_id": GREEN, "previous_service_id": BLUE}
    xcoms = context["ti"].xcoms
    assert (xcoms["previous_service_id"], xcoms["endpoint_id"], xcoms["service_id"]) == (BLUE, PNT, GREEN)


def test_update_endpoint_checks_ready_before_switching(requests_mock, context):
    ready(requests_mock, GREEN, "FAILED")
    requests_mock.get(f"{ENDPOINTS}/prod", json={"endpoint_id": PNT, "service_id": BLUE})
    patch = requests_mock.patch(f"{ENDPOINTS}/prod", json={})
    op = AbejaUpdateEndpointOperator(task_id="u", deployment_id=DEP, endpoint_alias="prod", service_id=GREEN)
    with pytest.raises(AirflowException, match="FAILED, not READY"):
        op.execute(context)
    assert patch.call_count == 0
    assert context["ti"].xcoms["previous_service_id"] == BLUE  # a rollback task can still use it


def test_update_endpoint_already_on_target_sends_nothing(requests_mock, context):
    ready(requests_mock, GREEN)
    requests_mock.get(f"{ENDPOINTS}/{PNT}", json={"endpoint_id": PNT, "service_id": GREEN})
    patch = requests_mock.patch(f"{ENDPOINTS}/{PNT}", json={})
    op = AbejaUpdateEndpointOperator(task_id="u", deployment_id=DEP, endpoint_alias=PNT, service_id=GREEN)
    assert op.execute(context)["previous_service_id"] == GREEN
    assert patch.call_count == 0


def test_update_of_a_missing_endpoint_fails_without_retry(requests_mock, context):
    requests_mock.get(f"{ENDPOINTS}/prod", status_code=404, json={"error": "not_found"})
    op = AbejaUpdateEndpointOperator(task_id="u", deployment_id=DEP, endpoint_alias="prod", service_id=GREEN)
    with pytest.raises(AirflowFailException, match="404"):
        op.execute(context)


def test_delete_endpoint_already_gone(requests_mock, context):
    requests_mock.delete(f"{ENDPOINTS}/prod", status_code=404, json={"error": "not_found"})
    assert (
        AbejaDeleteEndpointOperator(task_id="d", deployment_id=DEP, endpoint_alias="prod").execute(context)
        is None
    )
    strict = AbejaDeleteEndpointOperator(
        task_id="d", deployment_id=DEP, endpoint_alias="prod", fail_if_missing=True
    )
    with pytest.raises(AirflowFailException, match="does not exist"):
        strict.execute(context)


def test_delete_endpoint_returns_the_answer_and_says_so(requests_mock, context, capsys):
    requests_mock.delete(f"{ENDPOINTS}/prod", json={"message": "deleted"})
    op = AbejaDeleteEndpointOperator(task_id="d", deployment_id=DEP, endpoint_alias="prod")
    assert op.execute(context) == {"message": "deleted"}
    assert "Deleted endpoint prod" in capsys.readouterr().out  # task logs go through structlog
    requests_mock.delete(f"{ENDPOINTS}/prod", status_code=404, json={"error": "not_found"})
    assert op.execute(context) is None
    assert "Endpoint prod is already gone" in capsys.readouterr().out


def test_a_delete_operator_that_keeps_its_own_id_still_works(requests_mock, context):
    from airflow_provider_abeja.operators._base import AbejaDeleteOperator

    class OwnId(AbejaDeleteOperator):
        noun, id_field = "endpoint", "endpoint_alias"

        def __init__(self, *, endpoint_alias, **kwargs):
            super().__init__(**kwargs)
            self.endpoint_alias = endpoint_alias

    requests_mock.delete(f"{ENDPOINTS}/prod", json={"message": "deleted"})
    op = OwnId(task_id="d", deployment_id=DEP, endpoint_alias="prod")
    assert op.execute(context) == {"message": "deleted"}


def test_endpoint_ids_are_templated():
    assert set(AbejaUpdateEndpointOperator.template_fields) >= {
        "organization_id", "deployment_id", "endpoint_alias", "service_id",
    }  # fmt: skip
    assert set(AbejaCreateEndpointOperator.template_fields) >= {"service_id", "endpoint_alias"}
    assert set(AbejaDeleteEndpointOperator.template_fields) >= {"endpoint_alias"}


# -- route: create or switch, idempotent -------------------------------------------------------------


def route(service_id, **kwargs):
    return AbejaRouteEndpointOperator(task_id="route", deployment_id=DEP, service_id=service_id, **kwargs)


def test_route_creates_the_endpoint_when_there_is_none(requests_mock, context):
    ready(requests_mock, GREEN)
    requests_mock.get(ENDPOINTS, json={"entries": []})
    post = requests_mock.post(
        ENDPOINTS, json={"endpoint_id": PNT, "custom_alias": "default", "service_id": GREEN}
    )
    result = route(GREEN).execute(context)
    assert post.last_request.json() == {"service_id": GREEN, "custom_alias": "default"}
    assert result == {
        "endpoint_id": PNT,
        "custom_alias": "default",
        "service_id": GREEN,
        "previous_service_id": None,
        "created": True,
    }
    assert context["ti"].xcoms["previous_service_id"] is None
    assert context["ti"].xcoms["endpoint_id"] == PNT


@pytest.mark.parametrize("ref", ["prod", PNT])
def test_route_switches_an_endpoint_found_by_alias_or_id(requests_mock, context, ref):
    ready(requests_mock, GREEN)
    requests_mock.get(
        ENDPOINTS, json={"entries": [{"endpoint_id": PNT, "custom_alias": "prod", "service_id": BLUE}]}
    )
    patch = requests_mock.patch(f"{ENDPOINTS}/{ref}", json={})
    post = requests_mock.post(ENDPOINTS, json={})
    result = route(GREEN, endpoint_alias=ref).execute(context)
    assert patch.last_request.json() == {"service_id": GREEN}
    assert post.call_count == 0
    assert (result["previous_service_id"], result["created"]) == (BLUE, False)
    assert context["ti"].xcoms["previous_service_id"] == BLUE


def test_route_sends_nothing_when_the_endpoint_already_routes_there(requests_mock, context):
    ready(requests_mock, GREEN)
    requests_mock.get(
        ENDPOINTS, json={"entries": [{"endpoint_id": PNT, "custom_alias": "default", "service_id": GREEN}]}
    )
    patch = requests_mock.patch(f"{ENDPOINTS}/default", json={})
    post = requests_mock.post(ENDPOINTS, json={})
    assert route(GREEN).execute(context)["previous_service_id"] == GREEN
    assert (patch.call_count, post.call_count) == (0, 0)


def test_route_refuses_a_service_that_is_not_ready(requests_mock, context):
    ready(requests_mock, GREEN, "IN_PROGRESS")
    listing = requests_mock.get(ENDPOINTS, json={"entries": []})
    with pytest.raises(AirflowException, match="not READY"):
        route(GREEN).execute(context)
    assert listing.call_count == 0


def test_route_refuses_an_empty_endpoint_before_any_request(requests_mock, context):
    with pytest.raises(AirflowFailException, match="endpoint"):
        route(GREEN, endpoint_alias="").execute(context)
    assert requests_mock.call_count == 0
