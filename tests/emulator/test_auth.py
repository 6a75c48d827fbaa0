"""Credentials: the three Authorization forms, 401 without or with wrong ones, 403 across organizations."""

from __future__ import annotations

import base64

import pytest
import requests

from abeja_emulator import SAMPLE_VERSION_ID

from ._util import DEP, api, ready_service

pytestmark = pytest.mark.emulator

ORG_PATH = "/organizations/1234567890123/deployments/9999999999999/services"


def _basic(name: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()


@pytest.mark.parametrize(
    "header",
    [
        "Bearer emulator-bearer-token",
        _basic("user-1111111111111", "emulator-token"),
        _basic("datasource-2222222222222", "emulator-datasource-secret"),
    ],
)
def test_each_credential_form_is_accepted(abeja_emulator, header):
    response = requests.get(abeja_emulator.url + ORG_PATH, headers={"Authorization": header}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == {"entries": []}


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer wrong",
        "Token emulator-bearer-token",
        "Basic not-base64!!",
        _basic("user-1111111111111", "wrong"),
        _basic("1111111111111", "emulator-token"),  # the user- prefix is part of the name
        _basic("user-9999999999999", "emulator-token"),
        _basic("datasource-2222222222222", "emulator-token"),
        "Basic " + base64.b64encode(b"no-colon").decode(),
    ],
)
def test_missing_or_wrong_credentials_are_401(abeja_emulator, header):
    headers = {"Authorization": header} if header is not None else {}
    response = requests.get(abeja_emulator.url + ORG_PATH, headers=headers, timeout=10)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "unauthorized"
    assert "emulator-token" not in response.text


def test_other_organization_is_403(abeja_emulator):
    response = requests.get(
        abeja_emulator.url + "/organizations/5555555555555/deployments/9999999999999/services",
        auth=abeja_emulator.auth,
        timeout=10,
    )
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_configured_credentials_and_organizations(abeja_emulator):
    abeja_emulator.configure(
        users={
            "1111111111111": {"token": "emulator-token"},
            "3333333333333": {"token": "other-token", "organizations": ["5555555555555"]},
        },
        extra_organizations=["5555555555555"],
    )
    other = ("user-3333333333333", "other-token")
    path = "/organizations/{org}/deployments"
    assert requests.get(abeja_emulator.url + path.format(org="5555555555555"), auth=other, timeout=10).ok
    own_org = requests.get(abeja_emulator.url + path.format(org="1234567890123"), auth=other, timeout=10)
    assert own_org.status_code == 403
    # the default user now reaches the extra organization too
    extra = requests.get(
        abeja_emulator.url + path.format(org="5555555555555"), auth=abeja_emulator.auth, timeout=10
    )
    assert extra.status_code == 200
    # a resource of one organization is not visible through another
    missing = api(abeja_emulator, "GET", f"deployments/{DEP}").status_code
    assert missing == 200
    across = requests.get(
        abeja_emulator.url + f"/organizations/5555555555555/deployments/{DEP}",
        auth=abeja_emulator.auth,
        timeout=10,
    )
    assert across.status_code == 404


def test_changed_token_is_enforced_and_reset_restores_it(abeja_emulator):
    abeja_emulator.configure(users={"1111111111111": {"token": "rotated"}})
    assert api(abeja_emulator, "GET", "deployments").status_code == 401
    assert (
        api(abeja_emulator, "GET", "deployments", auth=("user-1111111111111", "rotated")).status_code == 200
    )
    abeja_emulator.reset()
    assert api(abeja_emulator, "GET", "deployments").status_code == 200


def test_inference_needs_credentials(abeja_emulator):
    service_id = ready_service(abeja_emulator, SAMPLE_VERSION_ID)
    url = abeja_emulator.inference_url(DEP, service_id)
    assert requests.post(url, json={"text": "good"}, timeout=10).status_code == 401
    assert (
        requests.post(url, json={"text": "good"}, auth=("user-1111111111111", "x"), timeout=10).status_code
        == 401
    )
    other_org = url.replace("/_inference/1234567890123/", "/_inference/5555555555555/")
    assert (
        requests.post(other_org, json={"text": "good"}, auth=abeja_emulator.auth, timeout=10).status_code
        == 403
    )


def test_control_config_answer_hides_secrets(abeja_emulator):
    config = abeja_emulator.configure(ready_delay=0.1)
    text = str(config)
    assert "emulator-token" not in text
    assert "emulator-bearer-token" not in text
    assert "emulator-datasource-secret" not in text
    assert config["ready_delay"] == 0.1


def test_bad_config_is_rejected_whole(abeja_emulator):
    response = requests.post(
        abeja_emulator.url + "/_emulator/config", json={"ready_delay": 0.5, "log_page_size": 0}, timeout=10
    )
    assert response.status_code == 400
    assert abeja_emulator.configure()["ready_delay"] == 0.2
    unknown = requests.post(abeja_emulator.url + "/_emulator/config", json={"nope": 1}, timeout=10)
    assert unknown.status_code == 400
