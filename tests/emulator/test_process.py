"""Private emulators: persistence across restarts (--state-dir), the CLI, clean shutdown of workers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from abeja_emulator import (
    SAMPLE_DEPLOYMENT_ID,
    SAMPLE_VERSION_ID,
    EmulatorHandle,
    EmulatorProcess,
)
from abeja_emulator.runtime_process import scratch_root

from ._util import DEP, api, infer, poll

pytestmark = [pytest.mark.emulator, pytest.mark.slow]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie still answers kill(0): look at its state
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_state_survives_restart(abeja_emulator_factory, tmp_path):
    emulator = abeja_emulator_factory(state_dir=tmp_path / "state")
    handle = emulator.handle
    assert handle.health()["persistent"] is True
    service = handle.create_service(DEP, SAMPLE_VERSION_ID, instance_number=2, environment={"K": "v"})
    service_id = service["service_id"]
    handle.wait_for_status(DEP, service_id, "READY")
    stopped = handle.create_service(DEP, SAMPLE_VERSION_ID)["service_id"]
    handle.wait_for_status(DEP, stopped, "READY")
    api(handle, "POST", f"deployments/{DEP}/services/{stopped}/stop")
    endpoint = api(handle, "POST", f"deployments/{DEP}/endpoints", json={"service_id": service_id}).json()
    dep = handle.create_deployment(name="kept")["deployment_id"]
    version = handle.create_version(dep, "3.0.0")
    handle.add_log(service_id, "remember me")
    old_pids = handle.metrics(service_id)["worker_pids"]
    port = emulator.port

    emulator.restart()
    handle = emulator.handle
    assert emulator.port == port
    assert all(poll(lambda pid=pid: _gone(pid)) for pid in old_pids)
    again = handle.get_service(DEP, service_id)
    assert again["status"] == "READY"
    assert again["user_env_vars"] == {"K": "v"}
    assert again["created_at"] == service["created_at"]
    assert handle.get_service(DEP, stopped)["status"] == "STOPPED"
    assert api(handle, "GET", f"deployments/{DEP}/endpoints/default").json() == endpoint
    assert api(handle, "GET", f"deployments/{dep}/versions/{version['version_id']}").status_code == 200
    assert "remember me" in handle.log_messages(service_id)
    answer = infer(handle, service_id, json={"text": "good"})  # instances come back by themselves
    assert answer.status_code == 200
    assert handle.metrics(service_id)["instances"] == 2
    # reset wipes the stored state too
    handle.reset()
    emulator.restart()
    assert api(emulator.handle, "GET", f"deployments/{DEP}/services").json() == {"entries": []}
    assert api(emulator.handle, "GET", f"deployments/{dep}").status_code == 404


def test_stop_kills_workers(abeja_emulator_factory):
    emulator = abeja_emulator_factory()
    service_id = emulator.handle.create_service(DEP, SAMPLE_VERSION_ID, instance_number=2)["service_id"]
    emulator.handle.wait_for_status(DEP, service_id, "READY")
    pids = emulator.handle.metrics(service_id)["worker_pids"]
    assert len(pids) == 2
    emulator.stop()
    assert not emulator.running
    assert all(poll(lambda pid=pid: _gone(pid)) for pid in pids)


def test_cli_flags(tmp_path):
    """The console script: free port printed, --no-sample, --fault, --organization, SIGTERM exits 0."""
    log = tmp_path / "out.log"
    settings = tmp_path / "settings.json"
    settings.write_text('{"log_page_size": 7, "extra_organizations": ["5555555555555"]}')
    args = [
        "--port", "0", "--no-sample", "--ready-delay", "0.1", "--organization", "7777777777777",
        "--fault", "route=get_deployments,status=502,times=1", "--personal-access-token", "cli-token",
        "--config", str(settings),
    ]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "abeja_emulator", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = poll(
            lambda: (
                (m := re.search(r"listening on (http://127\.0\.0\.1:(\d+))", log.read_text())) and m.group(1)
            )
        )
        assert not url.endswith(":0")
        handle = EmulatorHandle(url, "7777777777777", personal_access_token="cli-token")
        poll(lambda: _healthy(url))
        config = requests.get(url + "/_emulator/config", timeout=10).json()
        assert (config["log_page_size"], config["extra_organizations"]) == (7, ["5555555555555"])
        first = api(handle, "GET", "deployments")
        assert first.status_code == 502
        assert api(handle, "GET", "deployments").json()["entries"] == []
        assert api(handle, "GET", f"deployments/{SAMPLE_DEPLOYMENT_ID}").status_code == 404
        assert (
            api(handle, "GET", "deployments", auth=("user-1111111111111", "emulator-token")).status_code
            == 401
        )
        handle.reset()  # the CLI fault is part of the initial state
        assert api(handle, "GET", "deployments").status_code == 502
        assert "cli-token" not in log.read_text()
        dep = handle.create_deployment(name="cli")["deployment_id"]
        version = handle.create_version(dep, "1.0.0", user_env_vars={"SAMPLE_MODEL_PARAMS": "params_v1.json"})
        service_id = handle.create_service(dep, version["version_id"], instance_number=2)["service_id"]
        handle.wait_for_status(dep, service_id, "READY")
        workers = handle.metrics(service_id)["worker_pids"]
        process.send_signal(signal.SIGTERM)  # the server alone, not its group: it must stop its workers
        assert process.wait(timeout=20) == 0
        assert all(poll(lambda pid=pid: _gone(pid)) for pid in workers)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _healthy(url: str) -> bool:
    try:
        return requests.get(url + "/_emulator/health", timeout=2).ok
    except requests.RequestException:
        return False


def test_cli_rejects_bad_fault_spec():
    result = subprocess.run(
        [sys.executable, "-m", "abeja_emulator", "--port", "0", "--fault", "status=99"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "fault" in result.stderr


def test_connection_helpers(abeja_emulator):
    conn = abeja_emulator.airflow_connection("my_abeja")
    assert conn == {
        "conn_type": "abeja",
        "host": abeja_emulator.url,
        "login": "1111111111111",
        "password": "emulator-token",
        "extra": {"organization_id": "1234567890123"},
    }
    env = abeja_emulator.airflow_connection_env("my_abeja")
    assert list(env) == ["AIRFLOW_CONN_MY_ABEJA"]
    assert abeja_emulator.credential == {
        "user_id": "1111111111111",
        "personal_access_token": "emulator-token",
    }
    assert "emulator-token" not in repr(abeja_emulator)


def test_emulator_exits_with_its_parent(tmp_path):
    """A parent that dies without stopping the emulator (a killed test run) takes the emulator along."""
    info = tmp_path / "info.txt"
    launcher = (
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-m', 'abeja_emulator', '--port', '0',\n"
        "                      '--exit-with-parent'], stdout=open(sys.argv[1] + '.log', 'wb'),\n"
        "                     stderr=subprocess.STDOUT, start_new_session=True)\n"
        "open(sys.argv[1], 'w').write(str(p.pid))\n"
        "import time, re\n"
        "while not re.search('listening on', open(sys.argv[1] + '.log').read()): time.sleep(0.05)\n"
    )
    subprocess.run([sys.executable, "-c", launcher, str(info)], check=True, timeout=60)
    pid = int(info.read_text())
    try:
        assert poll(lambda: _gone(pid))
    finally:
        if not _gone(pid):
            os.killpg(pid, signal.SIGKILL)


def test_start_error_reports_the_log():
    import socket

    from abeja_emulator.process import EmulatorStartError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        process = EmulatorProcess(port=busy.getsockname()[1])
        with pytest.raises(EmulatorStartError, match="exited"):
            process.start()
        assert not process.running


def test_console_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "abeja-emulator")
    if not os.path.exists(script):
        pytest.skip("console script not installed in this environment")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "--state-dir" in result.stdout


def test_https_with_given_certificate(abeja_emulator_factory, tmp_path):
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    emulator = abeja_emulator_factory(
        extra_args=["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)], verify=str(cert)
    )
    assert emulator.url.startswith("https://127.0.0.1:")
    assert emulator.handle.health()["status"] == "ok"
    assert emulator.handle.airflow_connection()["extra"]["verify"] == str(cert)
    listed = requests.get(
        emulator.handle.api_url("deployments"), auth=emulator.handle.auth, verify=str(cert), timeout=10
    )
    assert listed.status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(emulator.url + "/_emulator/health", timeout=10)  # not in the default trust store


def test_state_survives_a_crash(abeja_emulator_factory, tmp_path):
    """Written through on every change: a SIGKILLed emulator loses nothing it had answered."""
    emulator = abeja_emulator_factory(state_dir=tmp_path / "state")
    service_id = emulator.handle.create_service(DEP, SAMPLE_VERSION_ID)["service_id"]
    emulator.handle.wait_for_status(DEP, service_id, "READY")
    pid = emulator.pid
    assert pid is not None
    left = [p for p in Path(scratch_root()).iterdir() if p.name.startswith(f"abeja-rt-{pid}-")]
    assert left  # the instance's folder (socket, answer files), named after its emulator
    os.killpg(pid, signal.SIGKILL)
    assert poll(lambda: _gone(pid))
    emulator.restart()
    assert emulator.handle.get_service(DEP, service_id)["status"] == "READY"
    assert infer(emulator.handle, service_id, json={"text": "good"}).status_code == 200
    assert not any(p.exists() for p in left)  # a killed emulator's folders are swept at the next start
