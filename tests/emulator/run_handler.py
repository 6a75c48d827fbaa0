"""The handler behind the runs tests (copied into a version's code folder, never imported here).

The run's environment picks the case (`RUN_CASE`): a run is one request, so the request cannot.
"""

import json
import os
import time
import urllib.error
import urllib.request

SEEN = (
    "ABEJA_RUN_ID",
    "ABEJA_ORGANIZATION_ID",
    "ABEJA_DEPLOYMENT_ID",
    "ABEJA_MODEL_VERSION",
    "INPUT",
    "OUTPUT",
)


def _describe(request, context):
    contents = request["contents"]
    first = contents[0] if contents else None
    content = {
        "method": request["http_method"],
        "content_type": request["content_type"],
        "headers": list(request["http_headers"].keys()) if request["http_headers"] else [],
        "count": len(contents),
        "content_content_type": first["content_type"] if first else None,
        "metadata": first["metadata"] if first else None,
        "body": first.read().decode("utf-8") if first else None,
        "env": {name: os.environ.get(name) for name in SEEN},
        "user": os.environ.get("RUN_USER_VARIABLE"),
        "has_token": bool(os.environ.get("PLATFORM_AUTH_TOKEN")),
    }
    metadata = {"x-abeja-meta-label": "described", "X-Abeja-Meta-Filename": "ignored.json", "other": "x"}
    return {"content_type": "application/json", "content": content, "metadata": metadata}


def _raise(request, context):
    print("the handler is about to fail")
    raise ValueError("run handler raised")


def _status_500(request, context):
    return {"status_code": 500, "content_type": "text/plain", "content": "partial answer"}


def _empty(request, context):
    return {"status_code": 200, "content_type": "application/json", "content": None}


def _csv(request, context):
    return {"content_type": "text/csv", "content": [{"a": 1}, {"a": 2}]}


def _multipart(request, context):
    return {"content_type": "multipart/form-data; boundary=x", "content": "x"}


def _metadata_numbers(request, context):
    return {"content_type": "text/plain", "content": "m", "metadata": {"x-abeja-meta-count": 3}}


def _slow(request, context):
    time.sleep(0.5)
    return {"content_type": "text/plain", "content": "slow answer"}


def _once(request, context):
    """Fails on its first attempt (a marker file in the run's own folder remembers it)."""
    marker = os.path.join(os.environ["RUN_MARKER_DIR"], os.environ["ABEJA_RUN_ID"])
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("first attempt fails")
    return {"content_type": "text/plain", "content": "second attempt"}


def _call(url):
    request = urllib.request.Request(
        url, headers={"Authorization": "Bearer " + os.environ["PLATFORM_AUTH_TOKEN"]}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _scoped(request, context):
    """The handler's credential: its own organization yes, another no."""
    base = os.environ["ABEJA_API_URL"]
    org = os.environ["ABEJA_ORGANIZATION_ID"]
    content = {
        "own": _call(f"{base}/organizations/{org}/channels"),
        "other": _call(f"{base}/organizations/9999999999998/channels"),
        "token": os.environ["PLATFORM_AUTH_TOKEN"],
    }
    return {"content_type": "application/json", "content": content}


CASES = {
    "describe": _describe,
    "raise": _raise,
    "status_500": _status_500,
    "empty": _empty,
    "csv": _csv,
    "multipart": _multipart,
    "once": _once,
    "metadata_numbers": _metadata_numbers,
    "slow": _slow,
    "scoped": _scoped,
}


def handler(request, context):
    return CASES[os.environ.get("RUN_CASE", "describe")](request, context)


print("run handler loaded:", json.dumps(os.environ.get("RUN_CASE")))
