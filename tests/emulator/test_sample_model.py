"""The shipped sample model answers as docs/emulator.md ("The sample deployment and its model") documents.

The example DAGs rely on it.
"""

from __future__ import annotations

import pytest

from abeja_emulator import SAMPLE_VERSION_ID, SAMPLE_VERSION_ID_V2

from ._util import infer, ready_service

pytestmark = pytest.mark.emulator


def test_documented_inputs_and_outputs(abeja_emulator):
    service_id = ready_service(abeja_emulator, SAMPLE_VERSION_ID)
    one = infer(abeja_emulator, service_id, json={"text": "Terrible, awful service", "id": "r1"}).json()
    assert one == {
        "label": "negative",
        "score": -3.8,
        "matched": ["awful", "terrible"],
        "model_version": "1.0.0",
        "id": "r1",
    }
    again = infer(abeja_emulator, service_id, json={"text": "Terrible, awful service", "id": "r1"}).json()
    assert again == one  # deterministic
    many = infer(abeja_emulator, service_id, json={"texts": ["good", "bad", ""]}).json()
    assert [p["label"] for p in many["predictions"]] == ["positive", "negative", "positive"]
    assert many["model_version"] == "1.0.0"
    logged = infer(abeja_emulator, service_id, json={"text": "nice", "log": "audit line 42", "sleep_ms": 5})
    assert logged.status_code == 200
    assert "audit line 42" in abeja_emulator.log_messages(service_id)
    failed = infer(abeja_emulator, service_id, json={"raise": "model exploded"})
    assert (failed.status_code, failed.json()) == (500, {"status": "unexpected error occurred"})
    assert "RuntimeError: model exploded" in abeja_emulator.log_messages(service_id)
    for bad in ([1, 2], {"nothing": True}):
        assert infer(abeja_emulator, service_id, json=bad).status_code == 400


def test_versions_differ_and_latency_env(abeja_emulator):
    v1 = ready_service(abeja_emulator, SAMPLE_VERSION_ID)
    v2 = ready_service(abeja_emulator, SAMPLE_VERSION_ID_V2, environment={"SAMPLE_LATENCY_MS": "1"})
    text = {"text": "good but slow"}
    first, second = infer(abeja_emulator, v1, json=text).json(), infer(abeja_emulator, v2, json=text).json()
    assert (first["label"], first["model_version"]) == ("positive", "1.0.0")
    assert (second["label"], second["model_version"]) == ("negative", "1.1.0")
    assert any("sample model 1.1.0 loaded" in m for m in abeja_emulator.log_messages(v2))
