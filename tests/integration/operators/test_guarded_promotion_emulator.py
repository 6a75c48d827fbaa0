"""Guarded promotion against the emulator: every scenario ends with the endpoint read back and
only the service it routes to left of blue and green."""

from __future__ import annotations

import json
import threading
from typing import Any

import airflow
import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_abeja.client import APIClient
from airflow_provider_abeja.operators.guarded import (
    AbejaCompareServicesOperator,
    AbejaGuardedSwapOperator,
    AbejaSettleReleaseOperator,
)
from tests.integration.operators._support import (
    GOOD_VERSION,
    OTHER_VERSION,
    SAMPLE_DEPLOYMENT,
    ready_service,
    route_count,
)

pytestmark = pytest.mark.emulator

TEXTS = ["a great and excellent day", "terrible and slow", "good", "bad service", "nice and fast", "hate it"]
INPUTS = [{"text": text} for text in TEXTS]
PROBE_INTERVAL = 0.1


def serving(emulator: Any) -> str:
    """The service the default endpoint routes to, read from the emulator's state."""
    return next(e["service_id"] for e in emulator.state()["endpoints"] if e["custom_alias"] == "default")


def services(emulator: Any) -> set[str]:
    return {s["service_id"] for s in emulator.state()["services"]}


@pytest.fixture
def release(emulator: Any) -> Any:
    """Blue behind the default endpoint, and a READY green of the same version (answers alike)."""

    def make(green_version: str = GOOD_VERSION) -> tuple[str, str]:
        blue = ready_service(emulator)
        with APIClient(emulator.credential, api_url=emulator.url) as client:
            client.create_endpoint(emulator.organization_id, SAMPLE_DEPLOYMENT, blue, "default")
        return blue, ready_service(emulator, green_version)

    return make


def compare(green: str, tmp_path: Any, **kwargs: Any) -> AbejaCompareServicesOperator:
    return AbejaCompareServicesOperator(
        task_id="compare",
        deployment_id=SAMPLE_DEPLOYMENT,
        green_service_id=green,
        output_path=str(tmp_path / "compare.jsonl"),
        **{"inputs": INPUTS, **kwargs},
    )


def swap(blue: str, green: str, bake_seconds: float = 0.5) -> AbejaGuardedSwapOperator:
    return AbejaGuardedSwapOperator(
        task_id="swap_and_bake",
        deployment_id=SAMPLE_DEPLOYMENT,
        blue_service_id=blue,
        green_service_id=green,
        inputs=INPUTS,
        bake_seconds=bake_seconds,
        probe_interval=PROBE_INTERVAL,
    )


def settle(blue: str, green: str, context: Any) -> dict[str, Any]:
    promoted = context["ti"].xcoms.get("promoted_service_id")
    op = AbejaSettleReleaseOperator(
        task_id="settle",
        deployment_id=SAMPLE_DEPLOYMENT,
        blue_service_id=blue,
        green_service_id=green,
        promoted_service_id=str(promoted),  # as the factory's template renders it
    )
    return op.execute(context)  # type: ignore[no-any-return]


def test_green_that_differs_beyond_the_threshold_is_not_promoted(emulator, release, context, tmp_path):
    blue, green = release(OTHER_VERSION)  # version 1.1.0 scores differently

    with pytest.raises(AirflowFailException, match="min_agreement: green agreed with blue on"):
        compare(green, tmp_path).execute(context)

    comparison = context["ti"].xcoms["comparison"]
    assert comparison["blue_service_id"] == blue
    assert comparison["blue"]["requests"] == comparison["green"]["requests"] == len(INPUTS)
    assert comparison["agreement_rate"] < 1.0
    assert json.loads((tmp_path / "compare.report.json").read_text())["breaches"] == comparison["breaches"]
    assert "| agrees with blue |" in context["ti"].xcoms["comparison_table"]
    assert settle(blue, green, context)["deleted"] == [green]
    assert serving(emulator) == blue
    assert services(emulator) == {blue}
    assert route_count(emulator, "update_endpoint") == 0


def test_a_field_within_a_tolerance_lets_a_different_version_through(emulator, release, context, tmp_path):
    _blue, green = release(OTHER_VERSION)

    report = compare(green, tmp_path, compare_field="score", tolerance=5.0).execute(context)

    assert report["agreement_rate"] == 1.0
    assert report["breaches"] == []
    assert report["green"]["error_rate"] == 0.0
    assert report["green"]["p50_ms"] is not None


def test_clean_path_promotes_green_and_retires_blue(emulator, release, context, tmp_path):
    blue, green = release()

    report = compare(green, tmp_path).execute(context)
    assert report["agreement_rate"] == 1.0
    baked = swap(blue, green).execute(context)

    assert baked["probes"] >= 2
    assert baked["errors"] == 0
    assert settle(blue, green, context)["deleted"] == []
    assert serving(emulator) == green
    assert services(emulator) == {green}


def test_green_5xx_during_the_bake_rolls_back_to_blue_within_one_probe(emulator, release, context):
    blue, green = release()
    emulator.inject_fault("request_endpoint", status=500)

    with pytest.raises(AirflowFailException, match=r"bake breached at .*probe error rate 1/1") as failed:
        swap(blue, green, bake_seconds=30).execute(context)

    assert f"routes to blue {blue} again" in str(failed.value)
    assert route_count(emulator, "request_endpoint") == 1  # the first probe after the swap
    assert route_count(emulator, "update_endpoint") == 2  # to green, and back
    assert settle(blue, green, context)["deleted"] == [green]
    assert serving(emulator) == blue
    assert services(emulator) == {blue}


def test_green_leaving_ready_during_the_bake_rolls_back(emulator, release, context):
    blue, green = release()
    emulator.set_service_status(green, "FAILED")

    with pytest.raises(AirflowFailException, match=f"green {green} is not READY"):
        swap(blue, green).execute(context)
    assert serving(emulator) == blue  # refused before any change

    emulator.set_service_status(green, "READY")
    watching = swap(blue, green, bake_seconds=30)
    watching.inputs = None  # no probes: the status alone must trip it
    outcome: list[BaseException] = []
    thread = threading.Thread(target=lambda: _run(watching, context, outcome))
    thread.start()
    _until(lambda: serving(emulator) == green)
    emulator.set_service_status(green, "FAILED")
    thread.join(timeout=30)

    assert isinstance(outcome[0], AirflowFailException)
    assert f"green {green} is FAILED" in str(outcome[0])
    assert serving(emulator) == blue


def _until(check: Any) -> None:
    """Poll the emulator until ``check()`` (20 seconds at most)."""
    event = threading.Event()
    for _ in range(1000):
        if check():
            return
        event.wait(0.02)
    raise AssertionError("the condition never held")


def test_worker_killed_during_the_bake_and_the_task_retried_ends_verified(emulator, release, context):
    blue, green = release()
    first = swap(blue, green, bake_seconds=60)
    outcome: list[BaseException] = []
    thread = threading.Thread(target=lambda: _run(first, context, outcome))
    thread.start()
    _until(lambda: route_count(emulator, "request_endpoint") >= 2)  # baking on green

    first.on_kill()
    thread.join(timeout=30)
    assert isinstance(outcome[0], AirflowException)  # retried, unlike a breach
    assert not isinstance(outcome[0], AirflowFailException)
    assert "killed" in str(outcome[0])
    assert serving(emulator) == blue  # a killed bake hands traffic back

    swap(blue, green).execute(context)  # the retry
    settle(blue, green, context)
    assert serving(emulator) == green
    assert services(emulator) == {green}


def _run(op: Any, context: Any, outcome: list[BaseException]) -> None:
    """``op.execute`` in this (worker) thread; the exception it ends with goes to ``outcome``."""
    if airflow.__version__.startswith("2."):  # its execute guard keeps a dict per thread
        from airflow.models.baseoperator import ExecutorSafeguard

        ExecutorSafeguard._sentinel.callers = {}
    try:
        op.execute(context)
    except BaseException as exc:
        outcome.append(exc)


def test_a_retry_after_a_hard_kill_on_green_bakes_again(emulator, release, context):
    """A worker killed without ``on_kill`` left the endpoint on green and blue alive."""
    blue, green = release()
    with APIClient(emulator.credential, api_url=emulator.url) as client:
        client.update_endpoint(emulator.organization_id, SAMPLE_DEPLOYMENT, "default", green)

    baked = swap(blue, green).execute(context)

    assert baked["probes"] >= 1
    assert serving(emulator) == green
    assert services(emulator) == {green}
    assert swap(blue, green).execute(context)["probes"] == 0  # done: blue is gone


def test_settle_after_an_unfinished_promotion_routes_back_to_blue(emulator, release, context):
    """No retry left after a hard kill (or the approval refused): blue serves, green is deleted."""
    blue, green = release()
    with APIClient(emulator.credential, api_url=emulator.url) as client:
        client.update_endpoint(emulator.organization_id, SAMPLE_DEPLOYMENT, "default", green)

    assert settle(blue, green, context) == {"service_id": blue, "deleted": [green]}
    assert serving(emulator) == blue
    assert services(emulator) == {blue}
    assert settle(blue, green, context) == {"service_id": blue, "deleted": []}  # idempotent


def test_endpoint_changed_by_someone_else_is_left_alone(emulator, release, context):
    blue, green = release()
    other = ready_service(emulator)
    with APIClient(emulator.credential, api_url=emulator.url) as client:
        client.update_endpoint(emulator.organization_id, SAMPLE_DEPLOYMENT, "default", other)

    with pytest.raises(AirflowFailException, match="someone else changed it"):
        swap(blue, green).execute(context)
    assert serving(emulator) == other
    assert settle(blue, green, context) == {"service_id": other, "deleted": []}
    assert services(emulator) == {blue, green, other}


def test_settle_keeps_blue_when_the_endpoint_is_gone(emulator, release, context):
    blue, green = release()
    with APIClient(emulator.credential, api_url=emulator.url) as client:
        client.delete_endpoint(emulator.organization_id, SAMPLE_DEPLOYMENT, "default")

    assert settle(blue, green, context) == {"service_id": None, "deleted": [green]}
    assert services(emulator) == {blue}


def test_compare_without_an_endpoint_fails_fast_naming_the_first_release(emulator, context, tmp_path):
    green = ready_service(emulator)

    with pytest.raises(AirflowFailException, match=r"endpoint default does not exist.*no blue to compare"):
        compare(green, tmp_path).execute(context)

    assert "blue_service_id" not in context["ti"].xcoms
    assert not (tmp_path / "compare.jsonl").exists()


def test_a_datalake_channel_is_the_validation_set(emulator, release, context, tmp_path):
    """Its JSONL files, uploaded as ABEJA's SDK does, read page by page by the compare and the bake."""
    blue, green = release()
    channel = emulator.create_channel("validation")["channel_id"]
    halves = INPUTS[:4], INPUTS[4:]
    for n, half in enumerate(halves):
        body = "".join(json.dumps({"id": f"{n}-{i}", **item}) + "\n" for i, item in enumerate(half))
        emulator.upload_file(channel, body.encode(), "application/jsonl", {"filename": f"part-{n}.jsonl"})
    path = f"abeja-datalake://{channel}"

    report = compare(green, tmp_path, inputs=None, input_path=path, key_field="id").execute(context)

    assert report["blue"]["requests"] == report["green"]["requests"] == len(INPUTS)
    assert report["agreement_rate"] == 1.0
    assert report["breaches"] == []
    keys = {r["key"] for r in map(json.loads, (tmp_path / "compare.jsonl").read_text().splitlines())}
    ids = [f"{n}-{i}" for n, half in enumerate(halves) for i in range(len(half))]
    assert keys == {f'{side}/"{key}"' for side in ("blue", "green") for key in ids}
    assert route_count(emulator, "download_channel_file") == 2  # each file once

    baking = swap(blue, green)
    baking.inputs, baking.input_path, baking.probe_sample = None, path, 2
    baked = baking.execute(context)
    assert baked["probes"] >= 2
    assert baked["errors"] == 0
    assert serving(emulator) == green
