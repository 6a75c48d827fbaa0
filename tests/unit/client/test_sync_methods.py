"""Every APIClient method: exact HTTP method, URL, query, headers and JSON body on the wire."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
import requests_mock as rm

from airflow_provider_abeja import __version__
from airflow_provider_abeja.client import APIClient

from .conftest import DEP, INFER, MGMT, ORG, PNT, SER, TOKEN, VER


def _body(request: Any) -> Any:
    return json.loads(request.body) if request.body else None


def _only(requests_mock: rm.Mocker) -> Any:
    assert requests_mock.call_count == 1
    return requests_mock.request_history[0]


def test_common_headers(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{MGMT}/services/{SER}", json={"service_id": SER})
    client.get_service(ORG, DEP, SER)
    sent = _only(requests_mock)
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["User-Agent"] == f"airflow-provider-abeja/{__version__}"


def test_create_service_minimal_body(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{MGMT}/services", json={"service_id": SER, "status": "IN_PROGRESS"})
    assert client.create_service(ORG, DEP, VER) == {"service_id": SER, "status": "IN_PROGRESS"}
    sent = _only(requests_mock)
    assert sent.method == "POST"
    assert sent.url == f"{MGMT}/services"
    assert sent.headers["Content-Type"] == "application/json"
    assert _body(sent) == {"version_id": VER, "instance_type": "cpu-0.25", "instance_number": 1}


def test_create_service_all_fields_positional(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{MGMT}/services", json={"service_id": SER})
    # the seed's positional order: version_id, instance_number, min, max, enable_autoscale,
    # instance_type, environment, model_id
    client.create_service(ORG, DEP, VER, 2, 1, 4, True, "gpu-1", {"A": "b"}, "3333333333333")
    assert _body(_only(requests_mock)) == {
        "version_id": VER,
        "instance_type": "gpu-1",
        "instance_number": 2,
        "min_instance_number": 1,
        "max_instance_number": 4,
        "enable_autoscale": True,
        "environment": {"A": "b"},
        "models": {"alias": "3333333333333"},
    }


def test_create_service_keeps_false_and_zero(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{MGMT}/services", json={})
    client.create_service(ORG, DEP, VER, min_instance_number=0, enable_autoscale=False, environment={})
    body = _body(_only(requests_mock))
    assert body["min_instance_number"] == 0
    assert body["enable_autoscale"] is False
    assert body["environment"] == {}
    assert "max_instance_number" not in body
    assert "models" not in body


def test_get_service(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{MGMT}/services/{SER}", json={"service_id": SER, "status": "READY"})
    assert client.get_service(ORG, DEP, SER)["status"] == "READY"
    sent = _only(requests_mock)
    assert (sent.method, sent.url, sent.body) == ("GET", f"{MGMT}/services/{SER}", None)


@pytest.mark.parametrize(
    "answer",
    [
        [{"service_id": SER}],
        {"entries": [{"service_id": SER}]},
    ],
)
@pytest.mark.parametrize("method", ["get_services", "list_services"])
def test_get_services_accepts_both_shapes(
    client: APIClient, requests_mock: rm.Mocker, answer: Any, method: str
) -> None:
    requests_mock.get(f"{MGMT}/services", json=answer)
    assert getattr(client, method)(ORG, DEP) == {"entries": [{"service_id": SER}]}
    assert _only(requests_mock).method == "GET"


def test_delete_service(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.delete(f"{MGMT}/services/{SER}", json={"message": f"{SER} deleted"})
    assert client.delete_service(ORG, DEP, SER) == {"message": f"{SER} deleted"}
    assert _only(requests_mock).method == "DELETE"


@pytest.mark.parametrize(("method", "action"), [("start_service", "start"), ("stop_service", "stop")])
def test_start_stop_send_no_body(
    client: APIClient, requests_mock: rm.Mocker, method: str, action: str
) -> None:
    requests_mock.post(f"{MGMT}/services/{SER}/{action}", json={"message": f"{SER} {action}ed"})
    assert getattr(client, method)(ORG, DEP, SER) == {"message": f"{SER} {action}ed"}
    sent = _only(requests_mock)
    assert sent.method == "POST"
    assert sent.body is None
    assert "Content-Type" not in sent.headers


def test_update_service_sends_payload(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.patch(f"{MGMT}/services/{SER}", json={"service_id": SER})
    payload = {"instance_number": 4, "enable_autoscale": "true"}
    client.update_service(ORG, DEP, SER, payload)
    sent = _only(requests_mock)
    assert sent.method == "PATCH"
    assert sent.headers["Content-Type"] == "application/json"
    assert _body(sent) == payload


def test_update_service_without_payload_sends_empty_object(
    client: APIClient, requests_mock: rm.Mocker
) -> None:
    requests_mock.patch(f"{MGMT}/services/{SER}", json={})
    client.update_service(ORG, DEP, SER)
    assert _body(_only(requests_mock)) == {}


def test_recent_logs_without_params(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{MGMT}/services/{SER}/recentlogs", json={"events": []})
    client.get_service_recent_logs(ORG, DEP, SER)
    sent = _only(requests_mock)
    assert sent.url == f"{MGMT}/services/{SER}/recentlogs"
    assert sent.qs == {}


def test_recent_logs_params_in_utc(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{MGMT}/services/{SER}/recentlogs", json={"events": [], "next_forward_token": ""})
    tokyo = dt.timezone(dt.timedelta(hours=9))
    client.get_service_recent_logs(
        ORG,
        DEP,
        SER,
        next_forward_token="f/w+d",
        next_backward_token="b&k",
        start_time=dt.datetime(2026, 1, 2, 9, 30, 0, tzinfo=tokyo),
        end_time=dt.datetime(2026, 1, 2, 1, 0, 5),  # naive: taken as UTC already
    )
    sent = _only(requests_mock)
    query = requests.utils.urlparse(sent.url).query
    parsed = dict(parse_qsl(query))
    assert parsed == {
        "next_forward_token": "f/w+d",
        "next_backward_token": "b&k",
        "start_time": "2026-01-02T00:30:00",
        "end_time": "2026-01-02T01:00:05",
    }


def test_request_service_json(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{INFER}/services/{SER}", json={"ok": True}, headers={"X-Abeja-Service-Id": SER})
    response = client.request_service(ORG, DEP, SER, json={"foo": "bar"})
    assert isinstance(response, requests.Response)
    assert response.json() == {"ok": True}
    sent = _only(requests_mock)
    assert sent.url == f"{INFER}/services/{SER}"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert _body(sent) == {"foo": "bar"}


def test_request_service_data_with_content_type(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{INFER}/services/{SER}", content=b"ok")
    client.request_service(ORG, DEP, SER, data=b"\x89PNG", content_type="image/png")
    sent = _only(requests_mock)
    assert sent.headers["Content-Type"] == "image/png"
    assert sent.body == b"\x89PNG"


def test_request_service_data_alone_is_octet_stream(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{INFER}/services/{SER}", content=b"ok")
    client.request_service(ORG, DEP, SER, "héllo")
    sent = _only(requests_mock)
    assert sent.headers["Content-Type"] == "application/octet-stream"
    assert sent.body == "héllo".encode()


def test_request_service_file_object_is_passed_as_a_stream(
    client: APIClient, requests_mock: rm.Mocker, tmp_path: Any
) -> None:
    requests_mock.post(f"{INFER}/services/{SER}", content=b"ok")
    path = tmp_path / "in.bin"
    path.write_bytes(b"x" * 1000)
    with path.open("rb") as handle:
        client.request_service(ORG, DEP, SER, data=handle, content_type="application/x-test")
        sent = _only(requests_mock)
        assert sent.body is handle  # handed to the transport unread, not copied into memory


def test_request_service_no_body(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{INFER}/services/{SER}", content=b"ok")
    client.request_service(ORG, DEP, SER)
    sent = _only(requests_mock)
    assert sent.body is None
    assert "Content-Type" not in sent.headers


def test_request_service_refuses_data_and_json(client: APIClient, requests_mock: rm.Mocker) -> None:
    with pytest.raises(ValueError, match="data"):
        client.request_service(ORG, DEP, SER, data=b"x", json={"a": 1})
    assert requests_mock.call_count == 0


def test_request_service_stream_to_path(client: APIClient, requests_mock: rm.Mocker, tmp_path: Any) -> None:
    requests_mock.post(f"{INFER}/services/{SER}", content=b"A" * 5000)
    target = tmp_path / "out.bin"
    response = client.request_service(ORG, DEP, SER, json={}, stream_to=target)
    assert response.status_code == 200
    assert target.read_bytes() == b"A" * 5000


def test_create_endpoint(client: APIClient, requests_mock: rm.Mocker) -> None:
    answer = {"endpoint_id": PNT, "custom_alias": "blue", "service_id": SER}
    requests_mock.post(f"{MGMT}/endpoints", json=answer)
    assert client.create_endpoint(ORG, DEP, SER, "blue") == answer
    sent = _only(requests_mock)
    assert sent.method == "POST"
    assert _body(sent) == {"service_id": SER, "custom_alias": "blue"}


def test_create_endpoint_without_alias_sends_default(client: APIClient, requests_mock: rm.Mocker) -> None:
    """As ABEJA's SDK does: the alias is always in the body, ``default`` when not given."""
    requests_mock.post(f"{MGMT}/endpoints", json={"endpoint_id": PNT})
    client.create_endpoint(ORG, DEP, SER)
    assert _body(_only(requests_mock)) == {"service_id": SER, "custom_alias": "default"}


@pytest.mark.parametrize("answer", [[{"endpoint_id": PNT}], {"entries": [{"endpoint_id": PNT}]}])
def test_get_endpoints(client: APIClient, requests_mock: rm.Mocker, answer: Any) -> None:
    requests_mock.get(f"{MGMT}/endpoints", json=answer)
    assert client.get_endpoints(ORG, DEP) == {"entries": [{"endpoint_id": PNT}]}


@pytest.mark.parametrize("endpoint", [PNT, "default"])
def test_get_endpoint_by_id_or_alias(client: APIClient, requests_mock: rm.Mocker, endpoint: str) -> None:
    requests_mock.get(f"{MGMT}/endpoints/{endpoint}", json={"endpoint_id": PNT})
    assert client.get_endpoint(ORG, DEP, endpoint) == {"endpoint_id": PNT}
    assert _only(requests_mock).method == "GET"


def test_update_endpoint(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.patch(f"{MGMT}/endpoints/{PNT}", json={"message": f"{PNT} updated"})
    assert client.update_endpoint(ORG, DEP, PNT, SER) == {"message": f"{PNT} updated"}
    sent = _only(requests_mock)
    assert sent.method == "PATCH"
    assert _body(sent) == {"service_id": SER}


def test_delete_endpoint(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.delete(f"{MGMT}/endpoints/{PNT}", json={"message": f"{PNT} deleted"})
    assert client.delete_endpoint(ORG, DEP, PNT) == {"message": f"{PNT} deleted"}
    assert _only(requests_mock).method == "DELETE"


@pytest.mark.parametrize(("alias", "suffix"), [(None, ""), ("green", "/green")])
def test_request_endpoint(
    client: APIClient, requests_mock: rm.Mocker, alias: str | None, suffix: str
) -> None:
    requests_mock.post(f"{INFER}{suffix}", json={"ok": 1})
    response = client.request_endpoint(ORG, DEP, alias, json={"q": 1})
    assert response.json() == {"ok": 1}
    sent = _only(requests_mock)
    assert sent.url == f"{INFER}{suffix}"
    assert sent.method == "POST"
    assert _body(sent) == {"q": 1}


def test_path_style_inference_for_loopback(make_client: Any, requests_mock: rm.Mocker) -> None:
    client = make_client(api_url="http://127.0.0.1:8765")
    assert client.inference_addressing == "path"
    url = f"http://127.0.0.1:8765/_inference/{ORG}/deployments/{DEP}/services/{SER}"
    requests_mock.post(url, json={})
    client.request_service(ORG, DEP, SER, json={})
    requests_mock.post(f"http://127.0.0.1:8765/_inference/{ORG}/deployments/{DEP}/blue", json={})
    client.request_endpoint(ORG, DEP, "blue", json={})
    assert [r.url for r in requests_mock.request_history] == [
        url,
        f"http://127.0.0.1:8765/_inference/{ORG}/deployments/{DEP}/blue",
    ]


def test_virtual_host_keeps_scheme_and_port(make_client: Any, requests_mock: rm.Mocker) -> None:
    client = make_client(api_url="http://api.internal.test:8080")
    requests_mock.post(f"http://{ORG}.api.internal.test:8080/deployments/{DEP}/services/{SER}", json={})
    client.request_service(ORG, DEP, SER, json={})
    assert requests_mock.call_count == 1


def test_forced_path_style_on_a_named_host(make_client: Any, requests_mock: rm.Mocker) -> None:
    client = make_client(api_url="https://abeja.proxy.test/base/", inference_addressing="path")
    assert client.api_url == "https://abeja.proxy.test/base"
    requests_mock.post(
        f"https://abeja.proxy.test/base/_inference/{ORG}/deployments/{DEP}/services/{SER}", json={}
    )
    client.request_service(ORG, DEP, SER, json={})
    assert requests_mock.call_count == 1


def test_forced_virtual_host_on_localhost(make_client: Any, requests_mock: rm.Mocker) -> None:
    client = make_client(api_url="http://localhost:9000", inference_addressing="virtual-host")
    requests_mock.post(f"http://{ORG}.localhost:9000/deployments/{DEP}/services/{SER}", json={})
    client.request_service(ORG, DEP, SER, json={})
    assert requests_mock.call_count == 1


def test_localhost_is_path_style_by_default(make_client: Any) -> None:
    assert make_client(api_url="http://localhost:9000").inference_addressing == "path"
    assert make_client(api_url="http://[::1]:9000").inference_addressing == "path"
    assert make_client().inference_addressing == "virtual-host"


def test_context_manager_closes_session(make_client: Any) -> None:
    client = make_client()
    closed: list[bool] = []
    client.session.close = lambda: closed.append(True)  # type: ignore[method-assign]
    with client as entered:
        assert entered is client
    assert closed == [True]


def test_unserialisable_json_is_refused_before_sending(client: APIClient, requests_mock: rm.Mocker) -> None:
    requests_mock.register_uri(rm.ANY, rm.ANY, json={})
    with pytest.raises(ValueError, match="json"):
        client.request_service(ORG, DEP, SER, json={"when": object()})
    with pytest.raises(ValueError, match="payload"):
        client.update_service(ORG, DEP, SER, {"x": float("nan")})
    with pytest.raises(ValueError, match="environment"):
        client.create_service(ORG, DEP, VER, environment={"A": object()})  # type: ignore[dict-item]
    assert requests_mock.call_count == 0
