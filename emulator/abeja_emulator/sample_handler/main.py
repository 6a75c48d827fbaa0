"""Sample model: a deterministic word-weight sentiment scorer in pure Python.

Its parameters come from a JSON file named by the env var SAMPLE_MODEL_PARAMS (set per version), so
two versions of one deployment answer differently; a service running a trained model reads the
``params.json`` that ``train.py`` wrote, from ``ABEJA_TRAINING_RESULT_DIR``. Input (JSON):
  {"text": "..."}                   -> one prediction
  {"texts": ["...", ...]}           -> {"predictions": [...]}
optional: "sleep_ms" (simulated latency; env SAMPLE_LATENCY_MS sets a default), "log" (printed to
the service's recent logs), "raise" (the handler raises, the platform answers 500).
"""

from __future__ import annotations

import json
import os
import re
import time

_PARAMS_FILE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), os.environ.get("SAMPLE_MODEL_PARAMS", "params_v1.json")
)
# A service created with a trained model (model_id) finds its files here, as on the platform.
_TRAINED = os.path.join(os.environ.get("ABEJA_TRAINING_RESULT_DIR", ""), "params.json")
if os.environ.get("ABEJA_TRAINING_RESULT_DIR") and os.path.exists(_TRAINED):
    _PARAMS_FILE = _TRAINED
with open(_PARAMS_FILE, encoding="utf-8") as _f:
    PARAMS = json.load(_f)
MODEL_VERSION = os.environ.get("ABEJA_MODEL_VERSION", PARAMS.get("name", "unknown"))
_DEFAULT_LATENCY_MS = float(os.environ.get("SAMPLE_LATENCY_MS", "0") or 0)
_WORD = re.compile(r"[a-z']+")

print(
    f"sample model {MODEL_VERSION} loaded: {len(PARAMS['weights'])} weights, threshold {PARAMS['threshold']}"
)


def score(text: str) -> dict[str, object]:
    """Sum of word weights plus bias; label by threshold. Same text, same answer."""
    words = _WORD.findall(text.lower())
    weights = PARAMS["weights"]
    total = float(PARAMS.get("bias", 0.0)) + sum(float(weights.get(w, 0.0)) for w in words)
    label = "positive" if total >= PARAMS["threshold"] else "negative"
    return {"label": label, "score": round(total, 4), "matched": sorted({w for w in words if w in weights})}


def handler(request, context):  # type: ignore[no-untyped-def]
    raw = request.read()
    try:
        payload = json.loads(raw or b"{}")
    except ValueError:
        return {
            "status_code": 400,
            "content_type": "application/json",
            "content": {"error": "body must be JSON"},
        }
    if not isinstance(payload, dict):
        return {
            "status_code": 400,
            "content_type": "application/json",
            "content": {"error": "expected an object"},
        }
    if payload.get("log"):
        print(str(payload["log"]))
    if payload.get("raise"):
        raise RuntimeError(str(payload["raise"]))
    latency = float(payload.get("sleep_ms", _DEFAULT_LATENCY_MS))
    if latency > 0:
        time.sleep(latency / 1000.0)
    if "texts" in payload:
        content: dict[str, object] = {"predictions": [score(str(t)) for t in payload["texts"]]}
    elif "text" in payload:
        content = score(str(payload["text"]))
    else:
        return {
            "status_code": 400,
            "content_type": "application/json",
            "content": {"error": "give text or texts"},
        }
    content["model_version"] = MODEL_VERSION
    if "id" in payload:
        content["id"] = payload["id"]
    return {"status_code": 200, "content_type": "application/json", "content": content}
