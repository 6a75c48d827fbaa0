"""The handler behind the conformance suite (copied into a version's code folder, never imported here).

One module, one function per case, picked by the request's `X-Case` header, so that one runtime per
side serves every case. Each case exercises one point of the runtime contract.
"""

import datetime
import os
import time

import numpy


def _dict(request, context):
    return {"status_code": 200, "content_type": "application/json", "content": {"a": 1, "b": [1, 2]}}


def _list_of_dicts(request, context):
    return {"content_type": "application/json", "content": [{"a": 1}, {"b": 2}]}


def _str(request, context):
    return {"content": "h\u00e9llo"}


def _bytes(request, context):
    return {"content": b"AB"}


def _bytes_items(request, context):
    return {"content_type": "application/octet-stream", "content": [b"\x00\x01", b"\x02"]}


def _csv(request, context):
    return {"content_type": "text/csv", "content": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]}


def _no_content_type(request, context):
    return {"content": {"x": 1}}


def _generator(request, context):
    return {"content_type": "application/json", "content": ({"i": i} for i in range(3))}


def _datetime_numpy(request, context):
    content = {"t": datetime.datetime(2020, 1, 2, 3, 4, 5), "n": numpy.int64(7), "v": numpy.array([1.5])}
    return {"content_type": "application/json", "content": content}


def _read(request, context):
    return {"content_type": "application/octet-stream", "content": [request.read()]}


def _read_size(request, context):
    first = request["contents"][0].read(4)
    return {"content_type": "application/octet-stream", "content": [first, b"|", request.read()]}


def _http_headers(request, context):
    headers = request["http_headers"]
    content = {
        "one": headers.get("X-Thing"),
        "all": headers.get_all("x-thing"),
        "missing": headers.get("X-No"),
    }
    return {"content_type": "application/json", "content": content}


def _describe(request, context):
    content = {
        "method": request["http_method"],
        "content_type": request["content_type"],
        "contents": [
            {
                "content_type": c["content_type"],
                "file_name": c["file_name"],
                "form_name": c["form_name"],
                "body": c.read().decode("utf-8"),
            }
            for c in request["contents"]
        ],
    }
    return {"content_type": "application/json", "content": content}


def _raise(request, context):
    raise ValueError("conformance handler raised")


def _not_a_dict(request, context):
    return ["not", "a", "dict"]


def _metadata_numbers(request, context):
    return {"content": "m", "metadata": {"X-Count": 3}}


def _metadata_list(request, context):
    return {"content": "m", "metadata": ["X-Count", "3"]}


def _metadata_ok(request, context):
    return {"status_code": 201, "content": "m", "metadata": {"X-Custom": "yes"}}


def _multipart_answer(request, context):
    return {"content_type": "multipart/form-data; boundary=x", "content": "--x--"}


def _status_42(request, context):
    return {"status_code": 42, "content": "odd"}


def _context(request, context):
    return {"content_type": "application/json", "content": context}


def _environment(request, context):
    names = ("HANDLER", "ABEJA_DEPLOYMENT_VERSION_ID", "CONFORMANCE_PARAMETER", "CONTEXT")
    content = {name: os.environ.get(name) for name in names}
    content["training_result_dir_set"] = bool(os.environ.get("ABEJA_TRAINING_RESULT_DIR"))
    content["ipc_path_set"] = bool(os.environ.get("ABEJA_IPC_PATH"))
    return {"content_type": "application/json", "content": content}


def _slow(request, context):
    time.sleep(float(request.read() or b"5"))
    return {"content": "late"}


def _crash(request, context):
    os._exit(3)


def _generator_handler(_iter, ctx):  # the older handler style of ABEJA's public samples
    for item in _iter:  # noqa: UP028 (as the samples write it)
        yield item


CASES = {
    name[1:]: function
    for name, function in list(globals().items())
    if name.startswith("_") and callable(function) and not name.startswith("__")
}


def handler(request, context):
    return CASES[request["http_headers"]["x-case"]](request, context)
