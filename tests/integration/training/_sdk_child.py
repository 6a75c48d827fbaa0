"""Runs inside the abeja-sdk 2.3.6 venv: ABEJA's own SDK drives the emulator's training routes.

Creates a job definition and a version from the sample training handler's files (the SDK zips
them), runs a job, waits for it, downloads its result with the SDK's high-level client and
registers it as a trained model. Prints one JSON line with what it saw.

Usage: python _sdk_child.py API_URL ORGANIZATION_ID USER_ID TOKEN HANDLER_DIR WORK_DIR
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    api_url, org, user_id, token, handler_dir, work_dir = sys.argv[1:7]
    os.environ["ABEJA_API_URL"] = api_url  # the SDK reads it at import
    from abeja.train import Client as TrainClient
    from abeja.training import APIClient

    credential = {"user_id": user_id, "personal_access_token": token}
    api = APIClient(credential=credential)
    name = "sdk-sentiment"
    api.create_training_job_definition(org, name)
    files = [os.path.join(handler_dir, f) for f in ("train.py", "training_data.jsonl")]
    version = api.create_training_job_definition_version(org, name, files, "train:handler")
    job = api.create_training_job(org, name, version["job_definition_version"], environment={"SDK": "1"})
    job_id = job["training_job_id"]
    deadline = time.monotonic() + 60
    while job["status"] in ("Pending", "Active") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = api.get_training_job(org, name, job_id)
    result_dir = os.path.join(work_dir, "result")
    TrainClient(
        organization_id=org, job_definition_name=name, credential=credential
    ).download_training_result(job_id, path=result_dir)
    archive = os.path.join(work_dir, "model.zip")
    import zipfile

    with zipfile.ZipFile(archive, "w") as out:
        for file_name in os.listdir(result_dir):
            out.write(os.path.join(result_dir, file_name), file_name)
    with open(archive, "rb") as model_data:
        model = api.create_training_model(org, name, model_data, {"training_job_id": job_id})
    got = api.get_training_model(org, name, model["training_model_id"])
    print(
        json.dumps(
            {
                "version": version["job_definition_version"],
                "status": job["status"],
                "statistics": job.get("statistics"),
                "result_files": sorted(os.listdir(result_dir)),
                "model_job": got["training_job_id"],
                "job_id": job_id,
            }
        )
    )


if __name__ == "__main__":
    main()
