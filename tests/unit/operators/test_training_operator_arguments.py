"""Argument checks of the training operators: a bad argument fails the task, naming it, before any request."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_abeja.operators.training import (
    AbejaCreateDeploymentVersionOperator,
    AbejaCreateTrainingJobOperator,
    AbejaCreateTrainingModelOperator,
)


@pytest.mark.parametrize(
    ("operator", "argument"),
    [
        (
            AbejaCreateTrainingJobOperator(task_id="a", job_definition_name="d", version_id="one"),
            "version_id",
        ),
        (
            AbejaCreateTrainingJobOperator(task_id="b", job_definition_name="../d", version_id=1),
            "job_definition_name",
        ),
        (
            AbejaCreateTrainingJobOperator(
                task_id="c", job_definition_name="d", version_id=1, environment="[1]"
            ),
            "environment",
        ),
        (
            AbejaCreateTrainingJobOperator(
                task_id="d", job_definition_name="d", version_id=1, datasets={"x": "y"}
            ),
            "datasets",
        ),
        (
            AbejaCreateTrainingModelOperator(task_id="e", job_definition_name="d", training_job_id="a/b"),
            "training_job_id",
        ),
        (
            AbejaCreateDeploymentVersionOperator(
                task_id="f", deployment_id="1", version="1", code="/no/such/dir"
            ),
            "code",
        ),
        (
            AbejaCreateDeploymentVersionOperator(
                task_id="g", deployment_id="1", version="1", code="/no/such/dir", handler="main"
            ),
            "handler",
        ),
        (
            AbejaCreateDeploymentVersionOperator(
                task_id="h", deployment_id="1", version="1", code="/no/such/dir", image=" "
            ),
            "image",
        ),
    ],
)
def test_bad_arguments_fail_the_task_before_any_request(operator: Any, argument: str) -> None:
    # No connection is configured: reaching the network (or the connection) would fail otherwise.
    with pytest.raises(AirflowFailException, match=f"^{argument}:"):
        operator.execute({"ti": None})
