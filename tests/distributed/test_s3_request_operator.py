"""The request operator round-trips an input and an output through `s3://` on a local S3 store."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath

from airflow_provider_abeja.operators.service import AbejaRequestServiceOperator
from tests._context import FakeTI

from .conftest import BUCKET

pytestmark = pytest.mark.emulator

SAMPLE_DEPLOYMENT = "9999999999999"
SAMPLE_VERSION = "ver-5a3d1e0000000001"


def test_request_reads_and_writes_s3(
    abeja_emulator: Any, s3_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in abeja_emulator.airflow_connection_env("abeja_default").items():
        monkeypatch.setenv(name, value)
    service = abeja_emulator.create_service(SAMPLE_DEPLOYMENT, SAMPLE_VERSION, instance_number=1)
    abeja_emulator.wait_for_status(SAMPLE_DEPLOYMENT, service["service_id"], "READY", timeout=30)
    source = ObjectStoragePath(f"s3://{BUCKET}/request/in.json", conn_id=s3_connection)
    source.write_text('{"id": "s3-1", "text": "a great product"}')
    out = f"s3://{BUCKET}/request/out/answer.json"
    ti = FakeTI(task_id="request")
    op = AbejaRequestServiceOperator(
        task_id="request",
        deployment_id=SAMPLE_DEPLOYMENT,
        service_id=service["service_id"],
        input_path=str(source),
        content_type="application/json",
        output_path=out,
        storage_conn_id=s3_connection,
    )
    assert op.execute({"ti": ti}) == out
    answer = ObjectStoragePath(out, conn_id=s3_connection).read_text()
    assert '"id": "s3-1"' in answer or '"id":"s3-1"' in answer
    assert '"positive"' in answer
    assert ti.xcoms["content_type"].startswith("application/json")
