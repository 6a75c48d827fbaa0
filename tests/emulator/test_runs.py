"""Runs executed the way the model proxy's batch mode does, their lists and logs, and triggers."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from abeja_emulator import SAMPLE_BAD_VERSION_ID, SAMPLE_DEPLOYMENT_ID, EmulatorHandle, EmulatorProcess

from ._datalake import files, new_channel, ok, root, run_log, upload
from ._util import api, poll

pytestmark = pytest.mark.emulator
HANDLER_FILE = Path(__file__).with_name("run_handler.py")
#: The SDK's example of a run (abeja-platform-sdk: abeja/runs/api/client.py:79-99).
FIELDS_TEXT = "run_id deployment_id model_version model_version_id models input_data output_template"
RUN_FIELDS = {*FIELDS_TEXT.split(), "retry_count", "distribution", "status", "user_env_vars", "created_at"}
RUN_FIELDS.add("modified_at")
STATUSES = {"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"}
RUN_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class Deployment:
    def __init__(self, handle: EmulatorHandle, dep: str, version_id: str, marker_dir: Path) -> None:
        self.handle = handle
        self.dep = dep
        self.version_id = version_id
        self.marker_dir = marker_dir

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return api(self.handle, method, f"deployments/{self.dep}/{path}", **kwargs)

    def run(self, case: str = "describe", **body: Any) -> dict[str, Any]:
        environment = {
            "RUN_CASE": case,
            "RUN_MARKER_DIR": str(self.marker_dir),
            **body.pop("environment", {}),
        }
        payload = {"version_id": self.version_id, "environment": environment, **body}
        return ok(self.call("POST", "runs", json=payload))  # type: ignore[no-any-return]

    def get(self, run_id: str) -> dict[str, Any]:
        return ok(self.call("GET", f"runs/{run_id}"))  # type: ignore[no-any-return]

    def wait(self, run_id: str) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            run = self.get(run_id)
            return run if run["status"] in ("SUCCEEDED", "FAILED") else None

        return poll(finished, 60)  # type: ignore[no-any-return]

    def log(self, run_id: str) -> list[str]:
        return run_log(self.handle, run_id, self.dep)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    state = tmp_path_factory.mktemp("runs-state")
    with EmulatorProcess(ready_delay=0.0, state_dir=state) as process:
        process.handle.configure(run_step_delay=0.01)
        yield process


@pytest.fixture(scope="module")
def deployment(emulator: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    code = tmp_path_factory.mktemp("run-code")
    shutil.copy(HANDLER_FILE, code / "main.py")
    handle = emulator.handle
    dep = handle.create_deployment(name="runs", default_environment={"RUN_USER_VARIABLE": "deployment"})
    version = handle.create_version(dep["deployment_id"], "2.0.0", code_dir=str(code))
    return Deployment(handle, dep["deployment_id"], version["version_id"], tmp_path_factory.mktemp("markers"))


@pytest.fixture(scope="module")
def channels(deployment: Deployment) -> tuple[str, str]:
    return new_channel(deployment.handle, "input"), new_channel(deployment.handle, "output")


def _download(handle: EmulatorHandle, channel_id: str, stored: dict[str, Any]) -> bytes:
    return requests.get(stored["download_uri"], timeout=10).content


def test_run_object_and_create_body(deployment):
    run = deployment.run()
    assert set(run) == RUN_FIELDS
    assert re.fullmatch(r"run-[0-9a-f]{16}", run["run_id"])
    assert run["status"] == "SUBMITTED"
    assert (run["retry_count"], run["distribution"], run["models"]) == (5, 0, {})
    assert (run["input_data"], run["output_template"]) == (None, None)
    assert run["user_env_vars"]["RUN_CASE"] == "describe"
    assert run["model_version_id"] == deployment.version_id
    assert run["model_version"] == "2.0.0"
    assert RUN_TIME.fullmatch(run["created_at"])
    assert RUN_TIME.fullmatch(run["modified_at"])
    done = deployment.wait(run["run_id"])
    assert done["status"] == "SUCCEEDED"  # an empty INPUT is one empty request; no OUTPUT, no upload
    bodies = [
        {"environment": {"A": 1}},
        {"retry_count": 10},
        {"retry_count": -1},
        {"retry_count": True},
        {"models": {"other": "1"}},
        {"input_data": 5},
        {"distribution": "x"},
    ]
    for body in bodies:
        answer = deployment.call("POST", "runs", json={"version_id": deployment.version_id, **body})
        assert answer.status_code == 400, body
        assert set(answer.json()) == {"error", "error_description"}
    assert deployment.call("POST", "runs", json={"environment": {}}).status_code == 400
    assert deployment.call("POST", "runs", json={"version_id": "ver-0000000000000000"}).status_code == 404
    full = deployment.run(models={"alias": "1234567890123"}, retry_count=0, distribution=3)
    assert (full["models"], full["retry_count"], full["distribution"]) == ({"alias": "1234567890123"}, 0, 3)
    deployment.wait(full["run_id"])


def test_datalake_input_becomes_the_request_and_the_answer_one_file(deployment, channels):
    handle = deployment.handle
    source, target = channels
    data = b'{"text": "hello"}'
    stored = upload(handle, source, data, metadata={"filename": "in.json", "label": "%E3%81%82"})
    input_data = {"$datalake:1": f"{source}/{stored['file_id']}"}
    output = {"$datalake:1": target}
    run = deployment.run(input_data=input_data, output_template=output)
    assert deployment.wait(run["run_id"])["status"] == "SUCCEEDED"
    name = f"{run['run_id']}_0.json"
    [answer] = files(handle, target, q=f"x-abeja-meta-filename:{name}")
    assert answer["content_type"] == "application/json"
    assert answer["metadata"] == {
        "x-abeja-meta-filename": name,  # the handler's own filename is overridden
        "x-abeja-meta-label": "described",  # x-abeja-meta-* forwarded; other keys dropped
        "x-abeja-sys-meta-organizationid": handle.organization_id,
    }
    seen = json.loads(_download(handle, target, answer))
    assert seen["method"] == "POST"
    assert seen["content_type"] == "application/json"  # the file's type
    assert (seen["count"], seen["content_content_type"], seen["headers"]) == (1, None, [])
    assert seen["metadata"] == stored["metadata"]  # as the API returns it: still percent-encoded
    assert seen["body"] == data.decode()
    assert seen["env"]["ABEJA_RUN_ID"] == run["run_id"]
    assert json.loads(seen["env"]["INPUT"]) == input_data
    assert json.loads(seen["env"]["OUTPUT"]) == output
    assert seen["env"]["ABEJA_DEPLOYMENT_ID"] == deployment.dep
    assert seen["env"]["ABEJA_ORGANIZATION_ID"] == handle.organization_id
    assert seen["env"]["ABEJA_MODEL_VERSION"] == "2.0.0"
    assert seen["user"] == "deployment"  # the deployment's default environment reaches the handler
    assert seen["has_token"] is True
    statuses = [m.split()[-1] for m in deployment.log(run["run_id"]) if "status" in m and "[emulator]" in m]
    assert statuses == ["SUBMITTED", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]


def test_json_and_empty_input_and_run_environment(deployment, channels):
    _, target = channels
    output = {"$datalake:1": target}
    json_run = deployment.run(
        input_data=[{"text": "x"}], output_template=output, environment={"RUN_USER_VARIABLE": "run"}
    )
    empty_run = deployment.run(output_template=output)
    seen = {}
    for name, run in (("json", json_run), ("empty", empty_run)):
        assert deployment.wait(run["run_id"])["status"] == "SUCCEEDED"
        [answer] = files(deployment.handle, target, q=f"x-abeja-meta-filename:{run['run_id']}")
        seen[name] = json.loads(_download(deployment.handle, target, answer))
    assert (seen["json"]["method"], seen["json"]["content_type"]) == ("POST", "application/json")
    assert json.loads(seen["json"]["body"]) == [{"text": "x"}]  # an array: the whole INPUT text
    assert seen["json"]["user"] == "run"  # the run's environment wins over the deployment's
    empty = seen["empty"]
    assert (empty["method"], empty["content_type"], empty["count"], empty["headers"]) == ("", "", 0, [])
    assert empty["env"]["INPUT"] == ""
    log = deployment.log(json_run["run_id"])
    assert any("abeja-runtime-python" in line for line in log)  # the services' runtime, unchanged


MISSING_FILE = "20200101T000000-00000000-0000-4000-8000-000000000000"
#: case -> (handler case, input_data, output_template or None for the test's channel, final status, file ext)
CASES: dict[str, tuple[str, Any, Any, str, str | None]] = {
    "handler raises": ("raise", {"text": "x"}, None, "FAILED", None),
    "status 500 with a body": ("status_500", {"text": "x"}, None, "FAILED", ".txt"),  # uploaded, then failed
    "empty body": ("empty", {"text": "x"}, None, "SUCCEEDED", None),
    "csv answer": ("csv", {"text": "x"}, None, "SUCCEEDED", ".csv"),
    "multipart answer": ("multipart", {"text": "x"}, None, "FAILED", None),
    "metadata not strings": ("metadata_numbers", {"text": "x"}, None, "FAILED", None),
    "no call time limit": ("slow", {"text": "x"}, None, "SUCCEEDED", ".txt"),
    "missing input file": ("describe", "MISSING", None, "FAILED", None),
    "INPUT not JSON": ("describe", "not json", None, "FAILED", None),
    "OUTPUT value not a string": ("describe", {"text": "x"}, {"$datalake:1": 5}, "FAILED", None),
    "OUTPUT without $datalake:1": ("describe", {"text": "x"}, {"$datamart-rdb:1": "1"}, "SUCCEEDED", None),
    "output channel missing": ("describe", {"text": "x"}, {"$datalake:1": "4444444444444"}, "FAILED", None),
}
BEFORE_HANDLER = ("missing input file", "INPUT not JSON", "OUTPUT value not a string")


def test_answers_and_failures(deployment, channels):
    """Every case at once (one runtime each, concurrently): final status, the one file or none, logs."""
    handle = deployment.handle
    source, target = channels
    handle.configure(handler_timeout=0.2)  # a service's limit: runs have none
    try:
        started = {}
        for name, (case, input_data, output, _, _) in CASES.items():
            if input_data == "MISSING":
                input_data = {"$datalake:1": f"{source}/{MISSING_FILE}"}
            output = output or {"$datalake:1": target}
            started[name] = deployment.run(case, input_data=input_data, output_template=output, retry_count=0)
        for name, run in started.items():
            final = deployment.wait(run["run_id"])
            log = deployment.log(run["run_id"])
            _, _, _, status, ext = CASES[name]
            uploaded = files(handle, target, q=f"x-abeja-meta-filename:{run['run_id']}")
            assert final["status"] == status, (name, log)
            names = [f["metadata"]["x-abeja-meta-filename"] for f in uploaded]
            assert names == ([f"{run['run_id']}_0{ext}"] if ext else []), name
            loaded = any("run handler loaded" in line for line in log)
            assert loaded is (name not in BEFORE_HANDLER), (name, log)
            if loaded:
                assert "WARNING: runtime: signal [SIGINT] received" in log, name  # stopped as the proxy does
    finally:
        handle.configure(handler_timeout=30)
    log = deployment.log(started["handler raises"]["run_id"])
    assert "the handler is about to fail" in log  # the handler's own output
    assert any("run handler raised" in line for line in log)
    assert any(line.startswith("[batch] the handler answered an error (status 500)") for line in log)
    assert "[batch] runtime didn't return body." in deployment.log(started["empty body"]["run_id"])


def test_extension_table():
    from abeja_emulator.batch import extension

    assert extension("application/json; charset=utf-8") == ".json"
    assert extension("image/jpeg") == ".jpg"
    assert extension("text/x-anything") == ".txt"
    assert extension("application/zip") == ".bin"
    assert extension("") == ".txt"


def test_failed_attempt_goes_back_to_runnable_and_retries(deployment):
    target = new_channel(deployment.handle)
    run = deployment.run("once", retry_count=1, input_data={"text": "x"})
    never = deployment.run("raise", retry_count=1)
    again = deployment.run("status_500", retry_count=1, output_template={"$datalake:1": target})
    assert deployment.wait(run["run_id"])["status"] == "SUCCEEDED"
    log = deployment.log(run["run_id"])
    statuses = [m.split()[-1] for m in log if m.startswith("[emulator] status")]
    assert statuses == ["RUNNABLE", "STARTING", "RUNNING"] * 2 + ["SUCCEEDED"]
    exits = [line for line in log if " exited with code " in line]
    assert exits == [
        "[emulator] attempt 1 of 2 exited with code 1",
        "[emulator] attempt 2 of 2 exited with code 0",
    ]
    assert deployment.wait(never["run_id"])["status"] == "FAILED"
    assert sum("starting the runtime" in line for line in deployment.log(never["run_id"])) == 2
    assert deployment.wait(again["run_id"])["status"] == "FAILED"
    assert len(files(deployment.handle, target)) == 1  # the retry keeps ABEJA_RUN_ID: its upload is a 409
    assert any(" 409 " in line for line in deployment.log(again["run_id"]))
    deployment.handle.configure(run_max_attempts=1)
    try:
        capped = deployment.run("raise", retry_count=9)
        assert deployment.wait(capped["run_id"])["status"] == "FAILED"
        assert sum("starting the runtime" in line for line in deployment.log(capped["run_id"])) == 1
    finally:
        deployment.handle.configure(run_max_attempts=10)


def test_handler_credential_is_scoped_and_revoked(deployment):
    run = deployment.run(
        "scoped", retry_count=0, output_template={"$datalake:1": new_channel(deployment.handle)}
    )
    assert deployment.wait(run["run_id"])["status"] == "SUCCEEDED"
    [answer] = files(deployment.handle, run["output_template"]["$datalake:1"])
    seen = json.loads(_download(deployment.handle, "", answer))
    assert (seen["own"], seen["other"]) == (200, 403)
    after = api(
        deployment.handle, "GET", "channels", headers={"Authorization": f"Bearer {seen['token']}"}, auth=None
    )
    assert after.status_code == 401
    assert seen["token"] not in json.dumps(deployment.handle.state())


def test_lists_page_newest_first_and_logs_page_both_ways(deployment):
    handle = deployment.handle
    handle.configure(runs_page_size=2, log_page_size=3)
    try:
        ids = [deployment.run("empty")["run_id"] for _ in range(3)]
        for run_id in ids:
            deployment.wait(run_id)
        newest = ok(deployment.call("GET", "runs"))
        assert [r["run_id"] for r in newest["entries"]][:2] == ids[::-1][:2]
        seen, params = [], {"scan_forward": "True"}  # the SDK's str(True)
        while True:
            page = ok(deployment.call("GET", "runs", params=params))
            seen += [r["run_id"] for r in page["entries"]]
            if not page.get("next_page_token"):
                break
            params = {"next_page_token": page["next_page_token"]}
        assert seen[-3:] == ids
        assert len(seen) == len(set(seen))
        ascending, params = [], {}
        while True:
            page = ok(deployment.call("GET", f"runs/{ids[0]}/logs", params=params))
            ascending += page["events"]
            if "next_token" not in page:
                break
            params = {"next_token": page["next_token"]}
        stamps = [e["timestamp"] for e in ascending]
        assert stamps == sorted(stamps)
        assert ascending[0]["message"].endswith("status SUBMITTED")
        recent = ok(deployment.call("GET", f"runs/{ids[0]}/recentlogs"))
        assert set(recent) == {"events", "next_forward_token", "next_backward_token"}
        assert recent["next_forward_token"] == ""
        assert recent["next_backward_token"]
        assert recent["events"][0]["message"].endswith("status SUCCEEDED")  # newest first
        window = {"start_time": "2000-01-01T00:00:00", "end_time": "2000-01-02T00:00:00"}
        assert ok(deployment.call("GET", f"runs/{ids[0]}/logs", params=window)) == {"events": []}
        assert deployment.call("GET", f"runs/{ids[0]}/logs", params={"start_time": "x"}).status_code == 400
    finally:
        handle.configure(runs_page_size=100, log_page_size=50)


def test_no_public_route_cancels_or_deletes_a_run(deployment):
    run_id = deployment.run("empty")["run_id"]
    assert deployment.call("DELETE", f"runs/{run_id}").status_code == 405
    assert deployment.call("POST", f"runs/{run_id}/stop").status_code in (404, 405)
    assert deployment.call("GET", "runs/run-0000000000000000").status_code == 404
    assert deployment.call("GET", "runs/not-a-run").status_code == 404
    deployment.wait(run_id)


def test_trigger_starts_one_run_per_new_file(deployment):
    handle = deployment.handle
    source, target = new_channel(handle, "trigger-in"), new_channel(handle, "trigger-out")
    upload(handle, source)  # before the trigger: starts nothing
    body = {
        "version_id": deployment.version_id,
        "input_service_name": "datalake",
        "input_service_id": source,
        "output_service_name": "datalake",
        "output_service_id": target,
        "environment": None,  # the SDK's default
        "retry_count": 0,
    }
    trigger = ok(deployment.call("POST", "triggers", json=body))
    assert re.fullmatch(r"tri-[0-9a-f]{16}", trigger["trigger_id"])
    assert {
        "organization_id",
        "model_version",
        "models",
        "user_env_vars",
        "created_at",
        "modified_at",
    } <= set(trigger)
    assert (trigger["retry_count"], trigger["distribution"], trigger["user_env_vars"]) == (0, 0, {})
    tid = trigger["trigger_id"]
    assert ok(deployment.call("GET", f"triggers/{tid}")) == trigger
    assert tid in [t["trigger_id"] for t in ok(deployment.call("GET", "triggers"))["entries"]]
    new = [upload(handle, source, b'{"n": %d}' % i)["file_id"] for i in range(2)]
    runs = poll(
        lambda: (
            len(ok(deployment.call("GET", f"triggers/{tid}/runs"))["entries"]) == 2
            and ok(deployment.call("GET", f"triggers/{tid}/runs", params={"scan_forward": "true"}))["entries"]
        )
    )
    assert [r["input_data"] for r in runs] == [{"$datalake:1": f"{source}/{f}"} for f in new]
    assert all(r["trigger_id"] == tid for r in runs)
    assert all(r["output_template"] == {"$datalake:1": target} for r in runs)
    for run in runs:
        assert deployment.wait(run["run_id"])["status"] == "SUCCEEDED"
    assert len(files(handle, target)) == 2
    assert ok(deployment.call("DELETE", f"triggers/{tid}")) == {"message": f"{tid} deleted"}
    upload(handle, source)
    assert deployment.call("GET", f"triggers/{tid}").status_code == 404
    assert all(
        r.get("trigger_id") != tid or r["run_id"] in {x["run_id"] for x in runs}
        for r in ok(deployment.call("GET", "runs"))["entries"]
    )


def test_trigger_body_is_checked(deployment, channels):
    source, _ = channels
    base = {"version_id": deployment.version_id, "input_service_name": "datalake", "input_service_id": source}
    for change in (
        {"input_service_name": "bucket"},
        {"input_service_id": None},
        {"output_service_name": "datalake"},
        {"output_service_id": source},
        {"retry_count": 10},
        {"environment": {"A": 1}},
    ):
        assert deployment.call("POST", "triggers", json={**base, **change}).status_code == 400, change
    assert (
        deployment.call("POST", "triggers", json={**base, "input_service_id": "4444444444444"}).status_code
        == 404
    )
    assert deployment.call("PATCH", "triggers/tri-0000000000000000", json={}).status_code == 405


def test_run_output_does_not_start_its_own_trigger(deployment):
    handle = deployment.handle
    channel = new_channel(handle, "loop")
    body = {
        "version_id": deployment.version_id,
        "input_service_name": "datalake",
        "input_service_id": channel,
        "output_service_name": "datalake",
        "output_service_id": channel,
        "retry_count": 0,
        "environment": {"RUN_CASE": "csv"},
    }
    tid = ok(deployment.call("POST", "triggers", json=body))["trigger_id"]
    upload(handle, channel)
    [run] = poll(lambda: ok(deployment.call("GET", f"triggers/{tid}/runs"))["entries"])
    assert deployment.wait(run["run_id"])["status"] == "SUCCEEDED"
    assert len(files(handle, channel)) == 2  # the input and the run's answer
    assert len(ok(deployment.call("GET", f"triggers/{tid}/runs"))["entries"]) == 1
    ok(deployment.call("DELETE", f"triggers/{tid}"))


def test_faults_counters_and_restart(emulator, deployment):
    handle = deployment.handle
    handle.inject_fault("create_run", status=503, times=1)
    assert deployment.call("POST", "runs", json={"version_id": deployment.version_id}).status_code == 503
    handle.inject_fault("list_channel_files", status=500, times=1)
    channel = new_channel(handle)
    assert root(handle, "GET", f"channels/{channel}").status_code == 500
    run = deployment.run()
    finished = deployment.wait(run["run_id"])
    counters = handle.counters()
    assert counters["requests"]["create_run"] >= 2
    assert counters["requests"]["list_channel_files"] >= 1
    assert counters["runs_created"] >= 1
    assert counters["runs_succeeded"] >= 1
    assert counters["runs_total"] >= 1
    assert counters["channels_total"] >= 1
    body = {
        "version_id": deployment.version_id,
        "input_service_name": "datalake",
        "input_service_id": channel,
    }
    trigger = ok(deployment.call("POST", "triggers", json=body))
    cut = deployment.run("slow")
    poll(lambda: deployment.get(cut["run_id"])["status"] == "RUNNING")
    emulator.stop()
    emulator.start()
    handle = emulator.handle
    assert api(handle, "GET", f"deployments/{deployment.dep}/runs/{run['run_id']}").json() == finished
    kept = run_log(handle, run["run_id"], deployment.dep)
    assert kept[-1].endswith("status SUCCEEDED")
    assert deployment.get(cut["run_id"])["status"] == "FAILED"  # its process died with the emulator
    assert "[emulator] the emulator stopped during the run" in deployment.log(cut["run_id"])
    assert ok(deployment.call("GET", f"triggers/{trigger['trigger_id']}")) == trigger
    ok(deployment.call("DELETE", f"triggers/{trigger['trigger_id']}"))


def test_console_shows_channels_and_runs(deployment):
    handle = deployment.handle
    channel = new_channel(handle, "<b>console</b>")
    upload(handle, channel, metadata={"filename": "shown.json"})
    run = deployment.run("raise", retry_count=0)
    deployment.wait(run["run_id"])
    index = requests.get(f"{handle.url}/console", timeout=10).text
    assert channel in index
    assert run["run_id"] in index
    assert "<b>console</b>" not in index  # names are escaped
    base = f"{handle.url}/console/organizations/{handle.organization_id}"
    page = requests.get(f"{base}/deployments/{deployment.dep}/runs/{run['run_id']}", timeout=10)
    assert page.status_code == 200
    assert "FAILED" in page.text
    assert "run handler raised" in page.text  # the run's log
    assert "shown.json" in requests.get(f"{base}/channels/{channel}", timeout=10).text
    missing = requests.get(f"{base}/deployments/{deployment.dep}/runs/run-0000000000000000", timeout=10)
    assert missing.status_code == 404


def test_runs_beyond_the_concurrency_limit_wait_runnable(deployment):
    deployment.handle.configure(max_concurrent_runs=1)
    try:
        first, second = deployment.run("slow"), deployment.run("slow")
        poll(lambda: deployment.get(first["run_id"])["status"] == "RUNNING")
        assert deployment.get(second["run_id"])["status"] in ("SUBMITTED", "RUNNABLE")
        assert deployment.wait(first["run_id"])["status"] == "SUCCEEDED"
        assert deployment.wait(second["run_id"])["status"] == "SUCCEEDED"
    finally:
        deployment.handle.configure(max_concurrent_runs=4)
    events = {
        run["run_id"]: ok(deployment.call("GET", f"runs/{run['run_id']}/logs"))["events"]
        for run in (first, second)
    }
    done = next(e["timestamp"] for e in events[first["run_id"]] if e["message"].endswith("status SUCCEEDED"))
    starting = next(
        e["timestamp"] for e in events[second["run_id"]] if e["message"].endswith("status STARTING")
    )
    assert starting >= done  # the second left RUNNABLE only when the first had finished


def test_a_handler_that_cannot_load_fails_the_run_with_its_error(deployment):
    body = {"version_id": SAMPLE_BAD_VERSION_ID, "environment": {}, "retry_count": 0}
    run = ok(api(deployment.handle, "POST", f"deployments/{SAMPLE_DEPLOYMENT_ID}/runs", json=body))
    sample = Deployment(deployment.handle, SAMPLE_DEPLOYMENT_ID, SAMPLE_BAD_VERSION_ID, deployment.marker_dir)
    assert sample.wait(run["run_id"])["status"] == "FAILED"
    log = sample.log(run["run_id"])
    assert any(line.startswith("[batch] the runtime did not start") for line in log), log
