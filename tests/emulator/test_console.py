"""The emulator's read-only console page: what the "ABEJA Service" link opens locally."""

from __future__ import annotations

from typing import Any

import requests

from airflow_provider_abeja.links.abeja import service_console_url

DEPLOYMENT = "9999999999999"
VERSION = "ver-5a3d1e0000000001"


def console_link(handle: Any, service_id: str) -> str:
    """The link a task shows, with the connection's console_url pointing at the emulator."""
    return service_console_url(f"{handle.url}/console", handle.organization_id, DEPLOYMENT, service_id)


def test_the_task_link_opens_the_services_page(abeja_emulator: Any) -> None:
    service_id = abeja_emulator.create_service(DEPLOYMENT, VERSION)["service_id"]
    abeja_emulator.wait_for_status(DEPLOYMENT, service_id, "READY")
    abeja_emulator.add_log(service_id, "<script>alert(1)</script> hello from the model")

    page = requests.get(console_link(abeja_emulator, service_id), timeout=10)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert service_id in html
    assert "READY" in html
    assert "Status timeline" in html
    assert "IN_PROGRESS" in html  # the timeline shows where it came from
    assert "hello from the model" in html  # recent logs
    assert "<script>alert(1)</script>" not in html  # log text is escaped


def test_a_deleted_service_is_a_clear_404_page(abeja_emulator: Any) -> None:
    page = requests.get(console_link(abeja_emulator, "ser-0000000000000000"), timeout=10)
    assert page.status_code == 404
    assert "deleted, or never existed" in page.text


def test_the_index_lists_services_with_links(abeja_emulator: Any) -> None:
    service_id = abeja_emulator.create_service(DEPLOYMENT, VERSION)["service_id"]
    page = requests.get(f"{abeja_emulator.url}/console", timeout=10)
    assert page.status_code == 200
    assert f'href="{console_link(abeja_emulator, service_id)[len(abeja_emulator.url) :]}"' in page.text


def test_the_console_imports_no_airflow_into_the_emulator() -> None:
    import subprocess
    import sys

    code = "import sys, abeja_emulator.app; print('airflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
