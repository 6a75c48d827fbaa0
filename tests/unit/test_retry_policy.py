"""The retry policy preset: permanent client errors fail at once, transient ones retry with a
doubling delay, anything else keeps the task's own retries; the operators use it by default."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_abeja.exceptions import (
    HttpError,
    InvalidArgumentError,
    NotFound,
    TransportError,
    WaitGaveUpError,
)
from airflow_provider_abeja.retry_policy import DEFAULT_RETRY_POLICY, HAS_RETRY_POLICIES, AbejaRetryPolicy

pytestmark = pytest.mark.skipif(not HAS_RETRY_POLICIES, reason="retry policies arrived in Airflow 3.3")


def raised_from(error: BaseException) -> AirflowException:
    try:
        try:
            raise error
        except BaseException as exc:
            raise AirflowException(str(exc)) from exc
    except AirflowException as wrapped:
        return wrapped


def decide(exc: BaseException, try_number: int = 1) -> tuple[str, timedelta | None]:
    decision = AbejaRetryPolicy(timedelta(seconds=10), timedelta(seconds=35)).evaluate(exc, try_number, 5)
    return decision.action.value, decision.retry_delay


@pytest.mark.parametrize(
    "error",
    [
        InvalidArgumentError("service_id", "bad"),
        NotFound("not_found", "gone", 404, "http://x"),
        WaitGaveUpError("ser-1", "401 twice", retryable=False),
    ],
)
def test_permanent_errors_fail_at_once_even_when_wrapped(error: BaseException) -> None:
    assert decide(error) == ("fail", None)
    assert decide(raised_from(error)) == ("fail", None)


@pytest.mark.parametrize(
    "error",
    [
        TransportError("connection refused", url="http://x", attempts=1),
        HttpError("busy", "busy", 503, "http://x"),
        HttpError("slow", "slow down", 429, "http://x"),
        WaitGaveUpError("ser-1", "5xx six times", retryable=True),
    ],
)
def test_transient_errors_retry_with_a_doubling_capped_delay(error: BaseException) -> None:
    delays = [decide(raised_from(error), n) for n in (1, 2, 3)]
    assert delays == [("retry", timedelta(seconds=s)) for s in (10, 20, 35)]


def test_other_errors_keep_the_tasks_own_retries() -> None:
    assert decide(RuntimeError("a bug")) == ("default", None)


def test_the_operators_use_it_unless_the_dag_gives_one() -> None:
    from airflow.sdk import DAG

    from airflow_provider_abeja.operators.service import AbejaDeleteServiceOperator

    own = AbejaRetryPolicy()
    with DAG("d", start_date=datetime(2024, 1, 1), schedule=None, default_args={"retry_policy": own}):
        from_default_args = AbejaDeleteServiceOperator(task_id="a", deployment_id="1", service_id="ser-1")
    plain = AbejaDeleteServiceOperator(task_id="b", deployment_id="1", service_id="ser-1")
    given = AbejaDeleteServiceOperator(task_id="c", deployment_id="1", service_id="ser-1", retry_policy=own)
    assert plain.retry_policy is DEFAULT_RETRY_POLICY
    assert from_default_args.retry_policy is own
    assert given.retry_policy is own


def test_it_round_trips_and_refuses_bad_delays() -> None:
    policy = AbejaRetryPolicy(timedelta(seconds=5), timedelta(seconds=50))
    again = AbejaRetryPolicy.deserialize(policy.serialize())
    assert (again.base_delay, again.max_delay) == (policy.base_delay, policy.max_delay)
    with pytest.raises(ValueError, match="base_delay"):
        AbejaRetryPolicy(timedelta(0))
