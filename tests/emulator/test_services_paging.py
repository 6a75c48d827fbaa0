"""``get_services`` pages like the platform's paged lists: ``offset``/``limit`` in, ``total`` out.

A list that fits in one page, asked without ``offset``/``limit``, is the seed's plain
``{"entries": [...]}``.
"""

from __future__ import annotations

import pytest

from abeja_emulator import SAMPLE_DEPLOYMENT_ID, SAMPLE_VERSION_ID

from ._util import api, create_service

pytestmark = pytest.mark.emulator

LIST = f"deployments/{SAMPLE_DEPLOYMENT_ID}/services"


def test_services_come_in_pages_of_the_configured_size(abeja_emulator):
    abeja_emulator.configure(ready_delay=3600, services_page_size=2)  # no instance starts
    created = [create_service(abeja_emulator, SAMPLE_VERSION_ID)["service_id"] for _ in range(5)]
    first = api(abeja_emulator, "GET", LIST).json()
    assert [s["service_id"] for s in first["entries"]] == created[:2]
    assert (first["offset"], first["limit"], first["total"]) == (0, 2, 5)
    last = api(abeja_emulator, "GET", LIST, params={"offset": 4}).json()
    assert [s["service_id"] for s in last["entries"]] == created[4:]
    # A smaller limit is honoured, a larger one is cut to the page size.
    assert len(api(abeja_emulator, "GET", LIST, params={"limit": 1}).json()["entries"]) == 1
    assert api(abeja_emulator, "GET", LIST, params={"limit": 50}).json()["limit"] == 2


def test_a_list_that_fits_in_a_page_is_plain_entries(abeja_emulator):
    abeja_emulator.configure(ready_delay=3600, services_page_size=2)
    created = [create_service(abeja_emulator, SAMPLE_VERSION_ID)["service_id"] for _ in range(2)]
    listed = api(abeja_emulator, "GET", LIST).json()
    assert list(listed) == ["entries"]
    assert [s["service_id"] for s in listed["entries"]] == created


@pytest.mark.parametrize("params", [{"offset": "-1"}, {"offset": "x"}, {"limit": "0"}])
def test_bad_paging_parameters_are_400(abeja_emulator, params):
    response = api(abeja_emulator, "GET", LIST, params=params)
    assert response.status_code == 400
    assert next(iter(params)) in response.json()["error_description"]


def test_the_client_reads_every_page(abeja_emulator):
    from airflow_provider_abeja.client import APIClient

    abeja_emulator.configure(ready_delay=3600, services_page_size=2)
    created = [create_service(abeja_emulator, SAMPLE_VERSION_ID)["service_id"] for _ in range(5)]
    with APIClient(abeja_emulator.credential, api_url=abeja_emulator.url) as client:
        listed = client.get_services(abeja_emulator.organization_id, SAMPLE_DEPLOYMENT_ID)
    assert [s["service_id"] for s in listed["entries"]] == created
    assert abeja_emulator.counters()["requests"]["get_services"] == 3


def test_a_list_with_a_default_page_size_pages_without_a_limit():
    """Training jobs come 10 at a time when no ``limit`` is asked (ABEJA's SDK documents 10)."""
    from abeja_emulator.paging import paged
    from abeja_emulator.training import JOB_PAGE_DEFAULT

    jobs = [{"training_job_id": str(n)} for n in range(JOB_PAGE_DEFAULT + 2)]
    first = paged(jobs, {}, default_limit=JOB_PAGE_DEFAULT)
    assert (len(first["entries"]), first["limit"], first["total"]) == (10, 10, 12)
    assert paged(jobs, {"offset": "10"}, default_limit=JOB_PAGE_DEFAULT)["entries"] == jobs[10:]
    assert len(paged(jobs, {"limit": "12"}, default_limit=JOB_PAGE_DEFAULT)["entries"]) == 12
