"""ABEJA's SDK (abeja-sdk 2.3.6, unchanged) through the Datalake, a run and a trigger; run in the SDK's venv.

Usage: python sdk_runs_lifecycle.py ORGANIZATION_ID DEPLOYMENT_ID VERSION_ID (ABEJA_API_URL and
SDK_CREDENTIAL in the environment). Prints one line per step, ``STEP <name> <json>``; an error ends
the script with its traceback after the last step it finished. test_sdk_runs.py asserts each step.
"""

import io
import json
import os
import sys
import time

from abeja.datalake import APIClient as DatalakeAPI
from abeja.datalake import Client as Datalake
from abeja.runs import APIClient as Runs
from abeja.triggers import APIClient as Triggers

TERMINAL = ("SUCCEEDED", "FAILED")


def step(name, value):
    print("STEP", name, json.dumps(value), flush=True)


def wait(read, done, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def main(org, dep, version_id):
    credential = json.loads(os.environ["SDK_CREDENTIAL"])
    datalake = Datalake(organization_id=org, credential=credential)
    datalake_api = DatalakeAPI(credential=credential)
    runs, triggers = Runs(credential=credential), Triggers(credential=credential)

    source = datalake.channels.create("sdk-input", "files for runs", "datalake")
    target = datalake.channels.create("sdk-output", "answers of runs", "datalake")

    body = json.dumps({"text": "a wonderful day"}).encode()
    uploaded = source.upload(
        io.BytesIO(body), "application/json", metadata={"filename": "in.json"}, lifetime="1week"
    )
    step(
        "upload",
        {"file_id": uploaded.file_id, "lifetime": uploaded.lifetime, "metadata": dict(uploaded.metadata)},
    )

    listed = list(source.list_files())
    step(
        "list",
        {"file_ids": [f.file_id for f in listed], "filenames": [f.metadata.get("filename") for f in listed]},
    )

    content = source.get_file(uploaded.file_id).get_content(cache=False)
    step("download", {"content": content.decode()})

    input_data = {"$datalake:1": f"{source.channel_id}/{uploaded.file_id}"}
    output = {"$datalake:1": target.channel_id}
    run = runs.create_run(org, dep, version_id, input_data=input_data, output_template=output, retry_count=0)
    final = wait(lambda: runs.get_run(org, dep, run["run_id"]), lambda r: r["status"] in TERMINAL)
    logs = runs.get_run_logs(org, dep, run["run_id"])
    recent = runs.get_run_recent_logs(org, dep, run["run_id"])
    listed_runs = runs.get_runs(org, dep, scan_forward=True)
    step(
        "run",
        {
            "created": run["status"],
            "final": final["status"],
            "run_id": run["run_id"],
            "log_lines": len(logs["events"]),
            "recent_tokens": sorted(k for k in recent if k.endswith("token")),
            "listed": run["run_id"] in [r["run_id"] for r in listed_runs["entries"]],
        },
    )

    answers = list(target.list_files())
    step(
        "output",
        {
            "filenames": [f.metadata.get("filename") for f in answers],
            "content": json.loads(answers[0].get_content(cache=False)) if answers else None,
        },
    )

    trigger = triggers.create_trigger(
        org, dep, version_id, "datalake", source.channel_id, "datalake", target.channel_id, retry_count=0
    )
    tid = trigger["trigger_id"]
    second = source.upload(
        io.BytesIO(b'{"text": "another file"}'), "application/json", metadata={"filename": "2.json"}
    )
    started = wait(
        lambda: triggers.get_trigger_runs(org, dep, tid)["entries"],
        lambda entries: entries and all(r["status"] in TERMINAL for r in entries),
    )
    step(
        "trigger",
        {
            "trigger_id": tid,
            "got": triggers.get_trigger(org, dep, tid)["trigger_id"],
            "listed": tid in [t["trigger_id"] for t in triggers.get_triggers(org, dep)["entries"]],
            "runs": [
                {"status": r["status"], "input_data": r["input_data"], "trigger_id": r["trigger_id"]}
                for r in started
            ],
            "expected_input": {"$datalake:1": f"{source.channel_id}/{second.file_id}"},
            "outputs": len(list(target.list_files())),
        },
    )

    deleted_trigger = triggers.delete_trigger(org, dep, tid)
    deleted_file = datalake_api.delete_channel_file(source.channel_id, uploaded.file_id)
    left = [f.file_id for f in source.list_files()]
    step("delete", {"trigger": deleted_trigger, "file": deleted_file, "left": left, "second": second.file_id})


if __name__ == "__main__":
    main(*sys.argv[1:4])
