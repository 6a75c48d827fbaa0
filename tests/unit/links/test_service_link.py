"""AbejaServiceLink: the console URL is built safely and read back from XCom ``service_url``."""

from __future__ import annotations

from airflow.providers.common.compat.sdk import BaseOperatorLink

from airflow_provider_abeja.links import abeja as links
from airflow_provider_abeja.operators.endpoint import AbejaUpdateEndpointOperator
from airflow_provider_abeja.operators.service import AbejaCreateServiceOperator, AbejaStartServiceOperator
from tests._context import FakeTI


def test_console_url_escapes_ids():
    url = links.service_console_url("https://console.example/", "123", "9/..", "ser-1?x#y")
    assert url == "https://console.example/organizations/123/deployments/9%2F../services/ser-1%3Fx%23y"
    assert links.service_console_url(None, "1", "2", "3").startswith("https://console.abeja.io/")


def test_link_reads_service_url_from_the_tasks_xcom(monkeypatch):
    asked = []

    def get_value(*, ti_key, key):
        asked.append((ti_key, key))
        return "https://console.abeja.io/organizations/1/deployments/2/services/3"

    monkeypatch.setattr(links.XCom, "get_value", staticmethod(get_value))
    link = links.AbejaServiceLink()
    assert isinstance(link, BaseOperatorLink)
    assert link.name == "ABEJA Service"
    assert (
        link.get_link(None, ti_key="key-of-ti")
        == "https://console.abeja.io/organizations/1/deployments/2/services/3"
    )
    assert asked == [("key-of-ti", "service_url")]


def test_link_is_empty_without_a_service_url(monkeypatch):
    monkeypatch.setattr(links.XCom, "get_value", staticmethod(lambda *, ti_key, key: None))
    assert links.AbejaServiceLink().get_link(None, ti_key="k") == ""


def test_operators_carry_the_link():
    for operator in (AbejaCreateServiceOperator, AbejaStartServiceOperator, AbejaUpdateEndpointOperator):
        assert any(isinstance(link, links.AbejaServiceLink) for link in operator.operator_extra_links)


def _no_xcom_lookup(monkeypatch):
    def get_value(*, ti_key, key):
        raise AssertionError("a running operator must not look its link up in XCom")

    monkeypatch.setattr(links.XCom, "get_value", staticmethod(get_value))


def test_a_running_operator_that_made_no_service_has_no_link_and_no_lookup(monkeypatch):
    """Item 7: a task that failed before any service existed logged 'XCom not found' for its link."""
    _no_xcom_lookup(monkeypatch)
    op = AbejaCreateServiceOperator(task_id="create", deployment_id="1", version_id="ver-1")
    assert links.AbejaServiceLink().get_link(op, ti_key="k") == ""
    ti = FakeTI()
    links.push_service_url(op, ti, "https://console.example/x")
    assert ti.xcoms == {"service_url": "https://console.example/x"}
    assert links.AbejaServiceLink().get_link(op, ti_key="k") == "https://console.example/x"


def test_the_sensor_links_to_the_service_it_waits_for(monkeypatch, requests_mock):
    import json

    from airflow_provider_abeja.sensors.service import AbejaServiceStatusSensor

    extra = {"auth_token": "t", "organization_id": "123", "console_url": "http://127.0.0.1:9/console"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_ABEJA_DEFAULT",
        json.dumps({"conn_type": "abeja", "host": "http://api.test", "extra": extra}),
    )
    requests_mock.get(
        "http://api.test/organizations/123/deployments/9/services/ser-1",
        json={"service_id": "ser-1", "status": "READY"},
    )
    _no_xcom_lookup(monkeypatch)
    sensor = AbejaServiceStatusSensor(task_id="wait", deployment_id="9", service_id="ser-1", poke_interval=1)
    assert any(isinstance(link, links.AbejaServiceLink) for link in sensor.operator_extra_links)
    ti = FakeTI()
    sensor.execute({"ti": ti})
    expected = "http://127.0.0.1:9/console/organizations/123/deployments/9/services/ser-1"
    assert ti.xcoms["service_url"] == expected
    assert links.AbejaServiceLink().get_link(sensor, ti_key="k") == expected


def test_training_links_read_their_url_and_keep_airflows_own_link_key(monkeypatch):
    """Each reads the URL its operator pushed; ``xcom_key`` stays Airflow's key for the rendered link."""
    from airflow_provider_abeja.links import training

    asked = []

    def get_value(*, ti_key, key):
        asked.append(key)
        return f"https://console.example/{key}"

    monkeypatch.setattr(links.XCom, "get_value", staticmethod(get_value))
    for link in (
        training.AbejaTrainingJobLink(),
        training.AbejaTrainingModelLink(),
        training.AbejaDeploymentVersionLink(),
    ):
        assert link.get_link(None, ti_key="key-of-ti") == f"https://console.example/{link.url_key}"
        if hasattr(type(link), "xcom_key"):  # Airflow 3 stores the rendered link under it
            assert link.xcom_key == f"_link_{type(link).__name__}"
    assert asked == ["training_job_url", "training_model_url", "version_url"]
