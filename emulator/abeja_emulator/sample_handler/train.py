"""Training handler of the sample model: learns word weights from labelled texts (pure Python).

Run by the training runtime as ``train:handler`` (``handler(context)``). Reads ``training_data.jsonl``
(``{"text", "label"}`` lines; ``SAMPLE_TRAINING_DATA`` names another file), gives each word the
share of positive minus negative texts it appears in, and writes ``params.json`` (the format
``main.py`` serves) to ``ABEJA_TRAINING_RESULT_DIR``. Reports its statistics to the platform the
way ABEJA's SDK does (``POST .../jobs/{id}/statistics``) when the job has API settings.

Test switches (environment): ``SAMPLE_TRAIN_FAIL`` makes it raise; ``SAMPLE_TRAIN_SECONDS``
makes it take that long (to stop it while it runs); with ``SAMPLE_TRAIN_UNTIL`` (a file path) it
ends as soon as that file exists, ``SAMPLE_TRAIN_SECONDS`` at most (a test releases it).
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.request
from collections import Counter


def learn(rows: list[dict[str, str]]) -> dict[str, float]:
    seen: dict[str, Counter[str]] = {}
    for row in rows:
        for word in set(row["text"].lower().split()):
            seen.setdefault(word, Counter())[row["label"]] += 1
    weights = {}
    for word, counts in seen.items():
        total = sum(counts.values())
        weight = (counts["positive"] - counts["negative"]) / total * 2
        if abs(weight) >= 0.5:
            weights[word] = round(weight, 3)
    return weights


def report_statistics(statistics: dict[str, object]) -> None:
    """What ``abeja.train.Client().update_statistics`` sends; skipped without API settings."""
    url, org = os.environ.get("ABEJA_API_URL"), os.environ.get("ABEJA_ORGANIZATION_ID")
    name, job = os.environ.get("TRAINING_JOB_DEFINITION_NAME"), os.environ.get("TRAINING_JOB_ID")
    if not (url and org and name and job):
        return
    headers = {"Content-Type": "application/json"}
    if os.environ.get("PLATFORM_AUTH_TOKEN"):
        headers["Authorization"] = "Bearer " + os.environ["PLATFORM_AUTH_TOKEN"]
    elif os.environ.get("ABEJA_PLATFORM_USER_ID"):
        user, token = (
            os.environ["ABEJA_PLATFORM_USER_ID"],
            os.environ.get("ABEJA_PLATFORM_PERSONAL_ACCESS_TOKEN", ""),
        )
        pair = f"{user}:{token}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    request = urllib.request.Request(
        f"{url}/organizations/{org}/training/definitions/{name}/jobs/{job}/statistics",
        data=json.dumps({"statistics": statistics}).encode(),
        headers=headers,
        method="POST",
    )
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except OSError as exc:
        print(f"statistics not reported: {exc}")


def _pause(seconds: float, until: str | None) -> None:
    deadline = time.monotonic() + seconds
    while until and not os.path.exists(until) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not until:
        time.sleep(seconds)


def handler(context: dict[str, object]) -> None:
    if os.environ.get("SAMPLE_TRAIN_FAIL"):
        raise RuntimeError(f"training failed on purpose: {os.environ['SAMPLE_TRAIN_FAIL']}")
    data_file = os.environ.get("SAMPLE_TRAINING_DATA", "training_data.jsonl")
    with open(data_file, encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    print(f"training on {len(rows)} texts from {data_file} (datasets: {context.get('datasets')})")
    _pause(float(os.environ.get("SAMPLE_TRAIN_SECONDS", "0") or 0), os.environ.get("SAMPLE_TRAIN_UNTIL"))
    weights = learn(rows)
    correct = 0
    for row in rows:
        score = sum(weights.get(word, 0.0) for word in row["text"].lower().split())
        correct += ("positive" if score >= 0 else "negative") == row["label"]
    accuracy = round(correct / len(rows), 4)
    version = os.environ.get("TRAINING_JOB_ID", "local")
    params = {"name": f"trained-{version}", "bias": 0.0, "threshold": 0.0, "weights": weights}
    result_dir = os.environ.get("ABEJA_TRAINING_RESULT_DIR", "abejainc_training_result")
    os.makedirs(result_dir, exist_ok=True)
    with open(os.path.join(result_dir, "params.json"), "w", encoding="utf-8") as out:
        json.dump(params, out, indent=1, sort_keys=True)
    print(f"learned {len(weights)} weights; training accuracy {accuracy}")
    report_statistics(
        {"num_epochs": 1, "epoch": 1, "progress_percentage": 1.0, "stages": {"train": {"accuracy": accuracy}}}
    )
