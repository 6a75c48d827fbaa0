"""Ids of the sample deployment every fresh emulator holds (unless `--no-sample`)."""

from __future__ import annotations

from pathlib import Path

SAMPLE_HANDLER_DIR = str(Path(__file__).resolve().with_name("sample_handler"))
SAMPLE_DEPLOYMENT_ID = "9999999999999"
SAMPLE_DEPLOYMENT_NAME = "sample-model"
SAMPLE_VERSION_ID = "ver-5a3d1e0000000001"
SAMPLE_VERSION_ID_V2 = "ver-5a3d1e0000000002"
SAMPLE_BAD_VERSION_ID = "ver-bad0000000000001"
#: Training job definition whose version 1 trains the sample model (``train:handler``).
SAMPLE_JOB_DEFINITION = "sample-sentiment"

# (version id, version string, handler, user env vars)
SAMPLE_VERSIONS: tuple[tuple[str, str, str, dict[str, str]], ...] = (
    (SAMPLE_VERSION_ID, "1.0.0", "main:handler", {"SAMPLE_MODEL_PARAMS": "params_v1.json"}),
    (SAMPLE_VERSION_ID_V2, "1.1.0", "main:handler", {"SAMPLE_MODEL_PARAMS": "params_v2.json"}),
    (SAMPLE_BAD_VERSION_ID, "0.0.1-broken", "broken:handler", {}),
)
