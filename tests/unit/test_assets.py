"""The request and batch operators declare a fixed output path as an Airflow Asset (outlet)."""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.sdk import Asset

from airflow_provider_abeja.assets import output_asset_uri
from airflow_provider_abeja.operators.batch import AbejaBatchRequestOperator
from airflow_provider_abeja.operators.service import AbejaRequestServiceOperator


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("s3://bucket/scores/out.jsonl", "s3://bucket/scores/out.jsonl"),
        ("/data/out.jsonl", "file:///data/out.jsonl"),
        ("s3://bucket/{{ run_id }}/out.jsonl", None),
        (None, None),
    ],
)
def test_asset_uri_of_an_output_path(path, uri) -> None:
    assert output_asset_uri(path) == uri


def test_operators_declare_their_fixed_output_as_an_outlet() -> None:
    batch = AbejaBatchRequestOperator(
        task_id="b", deployment_id="1", inputs=[], output_path="s3://bucket/scores/out.jsonl"
    )
    request = AbejaRequestServiceOperator(
        task_id="r", deployment_id="1", service_id="ser-1", output_path="/data/answer.png"
    )
    assert [a.uri for a in batch.outlets] == ["s3://bucket/scores/out.jsonl"]
    assert [a.uri for a in request.outlets] == ["file:///data/answer.png"]


def test_templated_outputs_and_explicit_outlets_are_left_to_the_author() -> None:
    templated = AbejaBatchRequestOperator(
        task_id="b", deployment_id="1", inputs=[], output_path="s3://b/{{ run_id }}/out.jsonl"
    )
    mine = Asset("s3://bucket/scores")
    explicit = AbejaRequestServiceOperator(
        task_id="r", deployment_id="1", service_id="ser-1", output_path="/data/x.png", outlets=[mine]
    )
    no_output = AbejaRequestServiceOperator(task_id="n", deployment_id="1", service_id="ser-1")
    assert templated.outlets == []
    assert explicit.outlets == [mine]
    assert no_output.outlets == []
