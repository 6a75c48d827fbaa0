"""AbejaServiceLink: the console URL is built safely and read back from XCom ``service_url``."""

from __future__ import annotations

from airflow.providers.common.compat.sdk import BaseOperatorLink

from airflow_provider_abeja.links import abeja as links
from airflow_provider_abeja.operators.endpoint import AbejaUpdateEndpointOperator
from airflow_provider_abeja.operators.service import AbejaCreateServiceOperator, AbejaStartServiceOperator


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
