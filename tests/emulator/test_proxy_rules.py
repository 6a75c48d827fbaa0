"""The model proxy's rules without a server: Go's media-type parser, multipart, answers, environment."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from abeja_emulator import runtime_process
from abeja_emulator.proxy_rules import (
    DropConnection,
    ProxyError,
    answer_headers,
    check_runtime_answer,
    parse_media_type,
    platform_headers,
    to_content_list,
)
from abeja_emulator.runtime_process import InstanceFolders, platform_environment


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("application/json", ("application/json", {})),
        ("Text/Plain; Charset=UTF-8", ("text/plain", {"charset": "UTF-8"})),
        ("text", ("text", {})),  # Go accepts a bare token (it also parses Content-Disposition)
        ('multipart/form-data; boundary="a;b"', ("multipart/form-data", {"boundary": "a;b"})),
        ("text/plain;", ("text/plain", {})),  # a trailing semicolon is no error
        ("", None),
        ("text/", None),
        ("no slash", None),
        ("text/plain; x", None),
        ("text/plain; a=1; a=2", None),
        ("text/plain extra", None),
    ],
)
def test_media_types_parse_as_go_parses_them(value, expected):
    assert parse_media_type(value) == expected


def test_multipart_with_bare_newlines_and_a_part_without_headers(tmp_path):
    body = (
        b'--b\n\npart one\n--b\nContent-Disposition: form-data; name=f; filename="/x/y.txt"\n\ntwo\n--b--\n'
    )
    listing = to_content_list(
        "POST", [("Content-Type", "multipart/form-data; boundary=b")], "", body, tmp_path
    )
    contents = listing["contents"]
    assert [Path(c["path"]).read_bytes() for c in contents] == [b"part one", b"two"]
    assert {k: v for k, v in contents[1].items() if k != "path"} == {"file_name": "y.txt", "form_name": "f"}
    assert set(contents[0]) == {"path"}


def test_malformed_multipart_drops_and_a_missing_boundary_is_503(tmp_path):
    with pytest.raises(DropConnection):
        to_content_list("POST", [("Content-Type", "multipart/form-data; boundary=b")], "", b"junk", tmp_path)
    with pytest.raises(ProxyError) as missing:
        to_content_list("POST", [("Content-Type", "multipart/form-data")], "", b"", tmp_path)
    assert (missing.value.status, missing.value.body()) == (
        503,
        b'{"status":": no multipart boundary param in Content-Type"}',
    )


def test_headers_sent_to_the_runtime_hide_host_and_credentials(tmp_path):
    headers = [
        ("Host", "h"),
        ("Authorization", "Basic x"),
        ("Cookie", "c"),
        ("X-B", "1"),
        ("x-b", "2"),
        ("A", "3"),
    ]
    listing = to_content_list("GET", headers, "q=1", b"", tmp_path)
    assert listing["headers"] == [{"key": "a", "values": ["3"]}, {"key": "x-b", "values": ["1", "2"]}]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            {"status_code": "200"},
            "cannot unmarshal string into Go struct field Response.status_code of type int",
        ),
        ({"status_code": 200.0}, "cannot unmarshal number 200.0 into Go struct field Response.status_code"),
        (
            {"metadata": {"a": True}},
            "cannot unmarshal bool into Go struct field Response.metadata of type string",
        ),
    ],
)
def test_answers_go_cannot_decode_are_500(answer, message):
    with pytest.raises(ProxyError) as raised:
        check_runtime_answer(answer)
    assert raised.value.status == 500
    assert message in raised.value.message


def test_answer_headers_are_cleaned_as_gos_writer_does():
    answer = {
        "status_code": 200,
        "content_type": "text/plain",
        "metadata": {"x-a": "1\r\n2", "bad name": "x", "x-u": "\u2603"},
    }
    status, headers = answer_headers(answer, platform_headers("", "1.0 beta", "", "ser-1"))
    named = dict(headers)
    assert status == 200
    assert named["X-A"] == "1  2"
    assert "Bad Name" not in named
    assert named["X-U"].encode("latin-1") == "\u2603".encode()  # UTF-8 bytes on the wire, as Go sends them
    assert (named["X-Abeja-Service-Id"], named["X-Abeja-Model-Version"]) == ("ser-1", "1.0%20beta")


def test_environment_is_platform_variables_over_user_parameters(tmp_path):
    folders = InstanceFolders(tmp_path)
    env = platform_environment(
        folders,
        user_parameters={"ABEJA_SERVICE_ID": "spoofed", "MINE": "1"},
        platform={"ABEJA_SERVICE_ID": "ser-1"},
        handler="main:handler",
    )
    assert (env["ABEJA_SERVICE_ID"], env["MINE"], env["HANDLER"]) == ("ser-1", "1", "main:handler")
    assert env["ABEJA_IPC_PATH"] == str(tmp_path / "ipc.sock")
    assert env["PIP_TARGET"] in env["PYTHONPATH"].split(":")
    assert "AIRFLOW_HOME" not in env


def test_the_blas_thread_cap_of_the_emulator_reaches_the_runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    monkeypatch.setenv("NOT_PASSED_ON", "1")
    env = platform_environment(InstanceFolders(tmp_path), user_parameters={}, platform={})
    assert env["OPENBLAS_NUM_THREADS"] == "3"
    assert "NOT_PASSED_ON" not in env


def test_a_python_without_cgi_is_reported(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "cgi" else real(name, *a)
    )
    problem = runtime_process.runtime_problem()
    assert problem is not None
    assert "'cgi'" in problem
    assert "abejaruntime 1.1.1 cannot run on Python" in problem
