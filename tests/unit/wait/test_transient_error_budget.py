"""The transient-error budget: which errors count against it, how they are counted, and how a wait
that runs out of it ends, the same in the sensor's poke and in the trigger.

A wait tolerates ``transient_error_budget`` transient errors in a row (5xx, 429, dropped
connections, answers that are not JSON) and starts counting again after a good poll; one more ends
it with an error that Airflow may retry. The pure step is checked first, then each mode over mocked
HTTP (requests-mock for the sensor, respx for the trigger), then each mode against the emulator.
Elsewhere: the same scenarios through the operators' own wait too, with equal messages, in
``test_wait_same_in_every_mode.py``; a failed shared listing counting once per wait in
``wait/test_pool_listing.py`` and ``integration/wait/test_pool_listing_emulator.py``;
errors that are not transient in ``test_fail_fast.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests
import requests_mock as rm
import respx
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from abeja_emulator.handle import EmulatorHandle
from airflow_provider_abeja.exceptions import (
    BadRequest,
    Forbidden,
    HttpError,
    InvalidArgumentError,
    InvalidResponseError,
    NotFound,
    TransportError,
    Unauthorized,
    is_transient,
)
from airflow_provider_abeja.sensors.service import AbejaServiceStatusSensor
from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger
from airflow_provider_abeja.wait.engine import Outcome, WaitSpec, WaitState, step, validate_status_event

API = "http://abeja.test"
ORG = "1234567890123"
DEP = "9999999999999"
SER = "ser-0123456789abcdef"
SERVICE_URL = f"{API}/organizations/{ORG}/deployments/{DEP}/services/{SER}"
CONN_ID = "abeja_budget"
TOKEN = "budget-bearer-token-value"
#: Client retries off in every connection here, so that every error reaches the wait.
NO_RETRIES = {"max_retry_count": 0}
GOOD_VERSION = "ver-5a3d1e0000000001"


# -- which errors count --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        TransportError("connect failed", url="http://x", attempts=3),
        HttpError("too_many_requests", "slow down", 429, "http://x"),
        HttpError("service_unavailable", "", 503, "http://x"),
        HttpError("bad_gateway", "", 502, "http://x"),
        InvalidResponseError("invalid_response", "not JSON", 200, "http://x"),
    ],
)
def test_transient(exc: Exception) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        BadRequest("bad_request", "", 400, "http://x"),
        Unauthorized("unauthorized", "", 401, "http://x"),
        Forbidden("forbidden", "", 403, "http://x"),
        NotFound("not_found", "", 404, "http://x"),
        InvalidArgumentError("service_id", "must not contain '/'"),
        RuntimeError("boom"),
    ],
)
def test_permanent(exc: Exception) -> None:
    assert not is_transient(exc)


# -- the pure step ---------------------------------------------------------------------------------------

UNAVAILABLE = HttpError("unavailable", "", 503, "http://x")


def _steps(spec: WaitSpec, observations: list[object]) -> list[Any]:
    state, steps = WaitState(), []
    for observation in observations:
        result = step(spec, state, observation, 0.0)
        state = result.state
        steps.append(result)
    return steps


def test_a_successful_poll_resets_the_transient_error_budget() -> None:
    spec = WaitSpec.build(SER, transient_error_budget=1)
    steps = _steps(spec, [UNAVAILABLE, {"status": "IN_PROGRESS"}, UNAVAILABLE, {"status": "READY"}])
    assert steps[-1].outcome is Outcome.SUCCEEDED
    (over,) = _steps(spec, [UNAVAILABLE, UNAVAILABLE])[1:]
    assert (over.outcome, over.retryable) == (Outcome.ERROR, True)


def test_an_answer_that_is_not_an_object_is_a_transient_error() -> None:
    (result,) = _steps(WaitSpec.build(SER), [["not", "a", "dict"]])
    assert result.outcome is Outcome.WAITING
    assert result.state.errors_in_a_row == 1


# -- each mode over mocked HTTP -------------------------------------------------------------------------

#: Scripted answers: a status string, an HTTP error code, a dropped connection, a 200 that is not JSON.
DROP, HTML = "<dropped connection>", "<html answer>"
ERRORS = {429: "too_many_requests", 500: "internal", 502: "bad_gateway", 503: "unavailable"}

#: name -> (answers, the last one repeats; budget; expected (outcome, message part, polls))
HTTP_SCENARIOS: dict[str, tuple[list[Any], int, tuple[str, str, int]]] = {
    "errors in a row within the budget, a good poll resets the count": (
        [503, 429, "IN_PROGRESS", 502, DROP, "READY"],
        2,
        ("success", "", 6),
    ),
    "errors in a row beyond the budget": (
        [503, DROP, "IN_PROGRESS", 503, 502, 500],
        2,
        ("retryable", "3 transient errors in a row (budget 2)", 6),
    ),
    "transport errors beyond the budget": (
        [DROP],
        3,
        ("retryable", "4 transient errors in a row (budget 3)", 4),
    ),
    "an answer that is not JSON counts as transient": ([HTML, "READY"], 1, ("success", "", 2)),
}


@pytest.fixture
def connection(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"auth_token": TOKEN, "organization_id": ORG, **NO_RETRIES}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "abeja", "host": API, "extra": extra})
    )


def _ended(error: AirflowException) -> tuple[str, str]:
    return ("fail-fast" if isinstance(error, AirflowFailException) else "retryable"), str(error)


def _event_outcome(event: dict[str, Any], service_id: str) -> tuple[str, str]:
    """What the deferred task makes of the trigger's event (``validate_status_event``)."""
    assert event["status"] in ("success", "error"), event
    try:
        validate_status_event(event, service_id)
    except AirflowException as error:
        return _ended(error)
    return "success", ""


def _requests_answer(answer: Any) -> dict[str, Any]:
    if answer == DROP:
        return {"exc": requests.exceptions.ConnectionError("refused")}
    if answer == HTML:
        return {"status_code": 200, "text": "<html>proxy</html>"}
    if isinstance(answer, int):
        return {"status_code": answer, "json": {"error": ERRORS[answer]}}
    return {"status_code": 200, "json": {"service_id": SER, "status": answer}}


def _httpx_answer(answer: Any) -> httpx.Response:
    if answer == DROP:
        raise httpx.ConnectError("connection refused")
    if answer == HTML:
        return httpx.Response(200, text="<html>proxy</html>")
    if isinstance(answer, int):
        return httpx.Response(answer, json={"error": ERRORS[answer], "error_description": "here"})
    return httpx.Response(200, json={"service_id": SER, "status": answer})


def _sensor(service_id: str, budget: int, poke_interval: float) -> AbejaServiceStatusSensor:
    return AbejaServiceStatusSensor(
        task_id="wait",
        deployment_id=DEP,
        service_id=service_id,
        abeja_conn_id=CONN_ID,
        poke_interval=poke_interval,
        timeout=30,
        transient_error_budget=budget,
    )


def _trigger(organization_id: str, service_id: str, budget: int) -> AbejaServiceStatusTrigger:
    return AbejaServiceStatusTrigger(
        organization_id=organization_id,
        deployment_id=DEP,
        service_id=service_id,
        poll_interval=0.01,
        abeja_conn_id=CONN_ID,
        transient_error_budget=budget,
    )


def sensor_over_http(answers: list[Any], budget: int) -> tuple[str, str, int]:
    sensor = _sensor(SER, budget, poke_interval=0)
    with rm.Mocker() as mocker:
        route = mocker.get(SERVICE_URL, [_requests_answer(answer) for answer in answers])
        try:
            while not sensor.poke({}):
                pass
        except AirflowException as error:
            return (*_ended(error), route.call_count)
        return "success", "", route.call_count


def trigger_over_http(answers: list[Any], budget: int) -> tuple[str, str, int]:
    trigger = _trigger(ORG, SER, budget)
    polls = iter(answers)

    def answer(request: httpx.Request) -> httpx.Response:
        return _httpx_answer(next(polls, answers[-1]))

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger yielded no event")

    with respx.mock:
        route = respx.get(SERVICE_URL).mock(side_effect=answer)
        event = asyncio.run(first_event())
    return (*_event_outcome(event, SER), route.call_count)


HTTP_MODES: dict[str, Callable[[list[Any], int], tuple[str, str, int]]] = {
    "sensor poke": sensor_over_http,
    "trigger": trigger_over_http,
}


@pytest.mark.usefixtures("connection")
@pytest.mark.parametrize("mode", list(HTTP_MODES))
@pytest.mark.parametrize("scenario", list(HTTP_SCENARIOS))
def test_the_budget_over_http(scenario: str, mode: str) -> None:
    answers, budget, (outcome, message, polls) = HTTP_SCENARIOS[scenario]
    seen_outcome, seen_message, seen_polls = HTTP_MODES[mode](answers, budget)
    assert (seen_outcome, seen_polls) == (outcome, polls)
    assert message in seen_message
    assert TOKEN not in seen_message


# -- each mode against the emulator ----------------------------------------------------------------------


@pytest.fixture
def emulator(abeja_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> EmulatorHandle:
    for name, value in abeja_emulator.airflow_connection_env(CONN_ID, **NO_RETRIES).items():
        monkeypatch.setenv(name, value)
    return abeja_emulator


def sensor_on_emulator(emulator: EmulatorHandle, service_id: str, budget: int) -> tuple[str, str]:
    try:
        _sensor(service_id, budget, poke_interval=0.05).execute({})
    except AirflowException as error:
        return _ended(error)
    return "success", ""


def trigger_on_emulator(emulator: EmulatorHandle, service_id: str, budget: int) -> tuple[str, str]:
    trigger = _trigger(emulator.organization_id, service_id, budget)

    async def events() -> list[dict[str, Any]]:
        return [dict(event.payload) async for event in trigger.run()]

    (event,) = asyncio.run(events())
    return _event_outcome(event, service_id)


EMULATOR_MODES: dict[str, Callable[[EmulatorHandle, str, int], tuple[str, str]]] = {
    "sensor poke": sensor_on_emulator,
    "trigger": trigger_on_emulator,
}


@pytest.fixture
def ready_service(emulator: EmulatorHandle) -> str:
    service_id = str(emulator.create_service(DEP, GOOD_VERSION)["service_id"])
    emulator.wait_for_status(DEP, service_id, "READY")
    return service_id


def _get_service_requests(emulator: EmulatorHandle) -> int:
    return int(emulator.counters()["requests"].get("get_service", 0))


@pytest.mark.emulator
@pytest.mark.parametrize("mode", list(EMULATOR_MODES))
def test_503s_within_the_budget_are_ridden_out(
    emulator: EmulatorHandle, ready_service: str, mode: str
) -> None:
    emulator.inject_fault("get_service", status=503, times=3)
    before = _get_service_requests(emulator)
    assert EMULATOR_MODES[mode](emulator, ready_service, 3) == ("success", "")
    # Three 503s, then the answer.
    assert _get_service_requests(emulator) - before == 4


@pytest.mark.emulator
@pytest.mark.parametrize("mode", list(EMULATOR_MODES))
def test_503s_beyond_the_budget_end_the_wait_with_a_retryable_error(
    emulator: EmulatorHandle, mode: str
) -> None:
    service_id = str(emulator.create_service(DEP, GOOD_VERSION)["service_id"])
    emulator.inject_fault("get_service", status=503)
    before = _get_service_requests(emulator)
    outcome, message = EMULATOR_MODES[mode](emulator, service_id, 2)
    assert outcome == "retryable"
    assert "3 transient errors in a row (budget 2)" in message
    assert "503" in message
    assert _get_service_requests(emulator) - before == 3


@pytest.mark.emulator
@pytest.mark.parametrize("mode", list(EMULATOR_MODES))
def test_a_dropped_connection_counts_as_transient(
    emulator: EmulatorHandle, ready_service: str, mode: str
) -> None:
    emulator.inject_fault("get_service", drop_connection=True, times=2)
    assert EMULATOR_MODES[mode](emulator, ready_service, 2) == ("success", "")
