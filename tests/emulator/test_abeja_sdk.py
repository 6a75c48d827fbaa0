"""ABEJA's own SDK (`abeja-sdk` 2.3.6, in its own venv) creates a version against the emulator unchanged.

The SDK creates a deployment and a version (`create_deployment_version` with `image` and
`user_parameters`), the code goes up as the tarball its docstring shows (`make_archive(...,
'gztar', base_dir='.')` then `requests.put(upload_url, ...)`), the SDK creates a service, and the
service answers. The SDK runs from its own venv (the `abeja_sdk_python` fixture, tests/conftest.py).
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import textwrap
from pathlib import Path

import pytest
import requests

from abeja_emulator import EmulatorHandle

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

CHILD = textwrap.dedent(
    """
    import json, os, shutil, sys

    import requests
    from abeja.deployments import APIClient as Deployments
    from abeja.services import APIClient as Services

    org, code_root, work = sys.argv[1:4]
    credential = json.loads(os.environ["SDK_CREDENTIAL"])
    deployments, services = Deployments(credential=credential), Services(credential=credential)
    dep = deployments.create_deployment(org, "made-by-the-sdk")["deployment_id"]
    version = deployments.create_deployment_version(
        org, dep, "0.0.1", "main:handler", "abeja-inc/all-cpu:19.10", {"GREETING": "hello"}
    )
    archive = shutil.make_archive(os.path.join(work, "archive"), "gztar", root_dir=code_root, base_dir=".")
    with open(archive, "rb") as file:
        requests.put(version["upload_url"], data=file).raise_for_status()
    service = services.create_service(org, dep, version["version_id"])
    print(json.dumps({
        "deployment": deployments.get_deployment(org, dep),
        "version": deployments.get_deployment_version(org, dep, version["version_id"]),
        "versions": deployments.get_deployment_versions(org, dep),
        "service": service,
    }))
    """
)

HANDLER = textwrap.dedent(
    """
    import json, os

    def handler(request, context):
        name = json.loads(request.read())["name"]
        return {"content_type": "application/json", "content": {"text": os.environ["GREETING"] + " " + name}}
    """
)


def test_sdk_uploads_a_version_and_its_service_answers(
    abeja_emulator: EmulatorHandle, abeja_sdk_python: Path, tmp_path: Path
) -> None:
    python = abeja_sdk_python
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.py").write_text(HANDLER)
    (tmp_path / "child.py").write_text(CHILD)
    env = {
        "ABEJA_API_URL": abeja_emulator.url,
        "SDK_CREDENTIAL": json.dumps(abeja_emulator.credential),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [str(python), str(tmp_path / "child.py"), abeja_emulator.organization_id, str(code), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout.strip().splitlines()[-1])
    deployment, version, service = made["deployment"], made["version"], made["service"]
    assert {"creator", "runs", "services", "triggers", "default_environment"} <= set(deployment)
    assert [s["service_id"] for s in deployment["services"]] == [service["service_id"]]
    assert version["image"] == "abeja-inc/all-cpu:19.10"
    assert version["user_parameters"] == {"GREETING": "hello"}
    assert {"creator", "handler", "version", "created_at", "modified_at"} <= set(version)
    assert [v["version_id"] for v in made["versions"]["entries"]] == [version["version_id"]]

    dep = deployment["deployment_id"]
    abeja_emulator.wait_for_status(dep, service["service_id"], "READY", timeout=60)
    answer = requests.post(
        abeja_emulator.inference_url(dep, service["service_id"]),
        json={"name": "sdk"},
        auth=abeja_emulator.auth,
        timeout=30,
    )
    assert (answer.status_code, answer.json()) == (200, {"text": "hello sdk"})


def test_upload_url_refuses_a_wrong_token_and_unsafe_archives(abeja_emulator: EmulatorHandle):
    dep = abeja_emulator.create_deployment(name="uploads")["deployment_id"]
    version = abeja_emulator.create_version(dep, "1", image="abeja-inc/minimal:0.1.0")
    url = version["upload_url"]
    assert requests.put(url + "x", data=b"", timeout=10).status_code == 404
    unsafe = io.BytesIO()
    with tarfile.open(fileobj=unsafe, mode="w:gz") as bundle:
        member = tarfile.TarInfo("../escape.py")
        member.size = 1
        bundle.addfile(member, io.BytesIO(b"x"))
    assert requests.put(url, data=unsafe.getvalue(), timeout=10).status_code == 400
    assert requests.put(url, data=b"not an archive", timeout=10).status_code == 400


def test_uploaded_code_survives_a_restart_with_a_state_dir(abeja_emulator_factory, tmp_path):
    emulator = abeja_emulator_factory(state_dir=tmp_path / "state", sample=False)
    handle = emulator.handle
    dep = handle.create_deployment(name="kept-code")["deployment_id"]
    version = handle.create_version(dep, "1.0.0", image="abeja-inc/all-cpu:19.10")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as bundle:
        code = b"def handler(request, context):\n    return {'content': 'kept'}\n"
        member = tarfile.TarInfo("./main.py")
        member.size = len(code)
        bundle.addfile(member, io.BytesIO(code))
    assert requests.put(version["upload_url"], data=archive.getvalue(), timeout=10).status_code == 200
    emulator.restart()
    handle = emulator.handle
    service_id = handle.create_service(dep, version["version_id"])["service_id"]
    handle.wait_for_status(dep, service_id, "READY", timeout=60)
    answer = requests.post(handle.inference_url(dep, service_id), json={}, auth=handle.auth, timeout=30)
    assert (answer.status_code, answer.content) == (200, b"kept")
