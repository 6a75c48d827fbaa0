"""`abeja-emulator` as a new user meets it: --help says the defaults and ids; a busy port is one line."""

from __future__ import annotations

import socket

import pytest

from abeja_emulator import cli
from abeja_emulator.config import (
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_PERSONAL_ACCESS_TOKEN,
    DEFAULT_READY_DELAY,
    DEFAULT_USER_ID,
)
from abeja_emulator.sample import (
    SAMPLE_BAD_VERSION_ID,
    SAMPLE_DEPLOYMENT_ID,
    SAMPLE_VERSION_ID,
)


def test_help_shows_defaults_credentials_and_sample_ids(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert f"(default: {cli.DEFAULT_PORT})" in text
    assert f"(default: {DEFAULT_READY_DELAY})" in text
    for value in (
        DEFAULT_ORGANIZATION_ID,
        DEFAULT_USER_ID,
        DEFAULT_PERSONAL_ACCESS_TOKEN,
        SAMPLE_DEPLOYMENT_ID,
        SAMPLE_VERSION_ID,
        SAMPLE_BAD_VERSION_ID,
    ):
        assert value in text


def test_a_busy_port_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert cli.main(["--port", str(port), "--no-sample"]) == 2
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err
    assert "in use" in err
    assert "--port" in err  # what to do about it
    assert "Traceback" not in err
