"""The sharded example DAG on a real Celery cluster with S3 storage; one worker dies mid-shard.

Two Celery workers (one task slot each, separate working folders) take one shard each. Once the
shard tasks are sending, a worker running a shard is killed with SIGKILL, process group and all,
as a machine loss looks. The scheduler notices the missing heartbeat, the shard task is retried
on the surviving worker, resumes from its output on S3, and the run succeeds with every input
answered exactly once (the merge's manifest, and the outputs themselves, say so).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psutil
import pytest

from .conftest import BUCKET, SHARDED_DAG, Cluster, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

DAG_ID = SHARDED_DAG
SAMPLE_INPUT = Path(__file__).resolve().parents[2] / "example_dags" / "data" / "batch_inputs.jsonl"


def _s3(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _task_instances(cluster: Cluster, run_id: str) -> list[dict[str, Any]]:
    return list(cluster.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")["task_instances"])


def _shard_running(cluster: Cluster, run_id: str) -> tuple[str, dict[str, Any]] | None:
    """A worker and the score_shard task instance running in its process tree, once there is one."""
    tis = [t for t in _task_instances(cluster, run_id) if t["task_id"] == "score_shard"]
    for worker in ("worker1", "worker2"):
        tree = {p.pid for p in psutil.Process(cluster.group.procs[worker].pid).children(recursive=True)}
        for ti in tis:
            if ti["state"] == "running" and ti.get("pid") in tree:
                return worker, ti
    return None


def test_a_worker_killed_mid_shard_loses_no_input_and_answers_none_twice(
    cluster: Cluster, s3_endpoint: str, abeja_emulator_process: Any
) -> None:
    emulator = abeja_emulator_process.handle
    emulator.reset()
    # Each answer takes a while, so that a shard is still running when its worker dies.
    emulator.inject_fault(route="request_service", latency=0.25)
    wait_until(lambda: cluster.get(f"/dags/{DAG_ID}"), 120, "the example DAG parsed")

    run = cluster.post(
        f"/dags/{DAG_ID}/dagRuns",
        {"logical_date": None, "conf": {"shards": 2, "instance_number": 1}},
    )
    run_id = run["dag_run_id"]
    worker, victim = wait_until(lambda: _shard_running(cluster, run_id), 180, "a shard running")

    def sent() -> int:
        return int(emulator.counters()["requests"].get("request_service", 0))

    wait_until(lambda: sent() >= 10, 60, "the shards sending")
    cluster.group.kill(worker)

    def finished() -> str | None:
        state = cluster.get(f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
        return state if state in ("success", "failed") else None

    try:
        state = wait_until(finished, 240, "the run finished", interval=2)
    except TimeoutError:
        pytest.fail(f"run did not finish\n{cluster.diagnostics()}")
    tis = {(ti["task_id"], ti["map_index"]): ti for ti in _task_instances(cluster, run_id)}
    assert state == "success", ({k: v["state"] for k, v in tis.items()}, cluster.diagnostics())
    retried = tis[("score_shard", victim["map_index"])]
    assert retried["try_number"] >= 2  # the killed try, then the retry on the other worker

    s3 = _s3(s3_endpoint)
    objects = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="sharded/")["Contents"]]
    (manifest_key,) = [k for k in objects if k.endswith("/manifest.json")]
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
    expected = [json.loads(line)["id"] for line in SAMPLE_INPUT.read_text().splitlines() if line.strip()]
    assert (manifest["inputs"], manifest["duplicates"], manifest["missing"]) == (len(expected), 0, 0)
    keys = []
    for shard in manifest["shards"]:
        key = shard["output_path"].removeprefix(f"s3://{BUCKET}/")
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
        keys += [json.loads(line)["key"] for line in body.splitlines()]
    assert sorted(keys) == sorted(expected)  # each input once, across shards and tries
    assert sent() >= len(expected)  # answers the dead worker never recorded were asked for again
    assert emulator.state()["services"] == [], "the teardown did not delete the service"
    _assert_lineage(cluster, manifest)


def _assert_lineage(cluster: Cluster, manifest: dict[str, Any]) -> None:
    """Each shard's OpenLineage COMPLETE event names its input and output datasets and the service."""
    events = [json.loads(p.read_text()) for p in (cluster.root / "openlineage").iterdir()]
    complete = [
        e for e in events if e.get("eventType") == "COMPLETE" and e["job"]["name"].endswith(".score_shard")
    ]
    assert complete, f"no COMPLETE event for score_shard among {len(events)} events"
    namespace = f"s3://{BUCKET}"
    outputs = {(d["namespace"], d["name"]) for e in complete for d in e["outputs"]}
    for shard in manifest["shards"]:
        assert (namespace, shard["output_path"].removeprefix(namespace + "/")) in outputs
    for event in complete:
        (source,) = event["inputs"]
        assert source["namespace"] == namespace
        assert source["name"].endswith(".jsonl")
        assert "/shard-" in source["name"]
        facet = event["run"]["facets"]["abeja_service"]
        assert facet["deploymentId"] == "9999999999999"
        assert facet["serviceId"].startswith("ser-")
