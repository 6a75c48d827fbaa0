"""The emulator on a laptop: which Host names and Origins it answers, where code may come from,
what an archive may cost, and every CLI flag refused with one line naming it (exit code 2)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import requests

from abeja_emulator import cli
from abeja_emulator.app import create_fastapi
from abeja_emulator.archives import extract
from abeja_emulator.code_roots import CodeRoots
from abeja_emulator.config import EmulatorConfig
from abeja_emulator.core import Emulator
from abeja_emulator.errors import ApiError
from abeja_emulator.host_policy import HostPolicy
from abeja_emulator.limits import MIB, UploadLimits
from abeja_emulator.local_guard import foreign_origin
from abeja_emulator.route_names import FAULT_ROUTES
from abeja_emulator.sample import SAMPLE_HANDLER_DIR, SAMPLE_JOB_DEFINITION
from tests.emulator import _archives as ar

LOOPBACK_ONLY = HostPolicy()
WITH_NAME = HostPolicy(["emulator.test"])


@pytest.mark.parametrize(
    ("policy", "host", "allowed"),
    [
        (LOOPBACK_ONLY, "127.0.0.1:8765", True),
        (LOOPBACK_ONLY, "127.1.2.3", True),
        (LOOPBACK_ONLY, "localhost", True),
        (LOOPBACK_ONLY, "LOCALHOST.:8765", True),
        (LOOPBACK_ONLY, "1234567890123.api.localhost:9", True),
        (LOOPBACK_ONLY, "1234567890123.127.0.0.1:8765", True),
        (LOOPBACK_ONLY, "[::1]:8765", True),
        (LOOPBACK_ONLY, None, True),
        (LOOPBACK_ONLY, "evil.example", False),
        (LOOPBACK_ONLY, "localhost.evil.example", False),
        (LOOPBACK_ONLY, "127.0.0.1.evil.example", False),
        (LOOPBACK_ONLY, "a.b.127.0.0.1", False),
        (LOOPBACK_ONLY, "localhost@evil.example", False),
        (LOOPBACK_ONLY, "0.0.0.0:8765", False),
        (LOOPBACK_ONLY, "192.168.1.10", False),
        (LOOPBACK_ONLY, "[fe80::1]:8765", False),
        (LOOPBACK_ONLY, "emulator.test", False),
        (WITH_NAME, "emulator.test:8765", True),
        (WITH_NAME, "1234567890123.emulator.test", True),
        (WITH_NAME, "evil.emulator.test.evil.example", False),
        (WITH_NAME, "evil.example", False),
        (HostPolicy(["*"]), "anything.example", True),
        (HostPolicy.for_bind("10.1.2.3"), "10.1.2.3:8765", True),
        (HostPolicy.for_bind("10.1.2.3"), "evil.example", False),
        (HostPolicy.for_bind("0.0.0.0"), "0.0.0.0:8765", True),
        (HostPolicy.for_bind("0.0.0.0"), "evil.example", False),
    ],
)
def test_host_policy(policy: HostPolicy, host: str | None, allowed: bool) -> None:
    assert policy.allows(host) is allowed


@pytest.mark.parametrize(
    ("origin", "foreign"),
    [
        (None, False),
        ("http://127.0.0.1:8765", False),
        ("https://127.0.0.1:8765", False),
        ("http://evil.example", True),
        ("http://127.0.0.1:1", True),
        ("http://127.0.0.1", True),
        ("null", True),
        ("file://", True),
        ("http://localhost:8765", True),  # another name for the same server is another origin
    ],
)
def test_foreign_origin(origin: str | None, foreign: bool) -> None:
    assert foreign_origin(origin, "127.0.0.1:8765") is foreign


def test_code_roots_resolve_links_and_refuse_lookalikes(tmp_path: Path) -> None:
    roots = CodeRoots([tmp_path / "allowed"])
    (tmp_path / "allowed").mkdir()
    (tmp_path / "allowed" / "out").symlink_to("/etc")
    assert roots.allows(str(tmp_path / "allowed" / "model"))
    assert not roots.allows(str(tmp_path / "allowed" / "out"))
    assert not roots.allows(str(tmp_path / "allowedfoo"))
    assert not roots.allows(str(tmp_path / "allowed" / ".." / "other"))
    assert CodeRoots().allows(SAMPLE_HANDLER_DIR)
    assert CodeRoots().allows(tempfile.gettempdir() + "/x")


SMALL = UploadLimits(max_upload_bytes=MIB, max_expanded_bytes=2 * MIB, max_archive_files=50)


@pytest.mark.parametrize(
    ("name", "archive", "reason"),
    [
        ("tar bomb", ar.tar_files(ar.zeros(3 * MIB)), "--max-expanded-mb"),
        ("zip bomb", ar.zip_files(ar.zeros(3 * MIB)), "--max-expanded-mb"),
        ("tar count", ar.tar_files(ar.many(51)), "--max-archive-files"),
        ("zip count", ar.zip_files(ar.many(51)), "--max-archive-files"),
        (
            "hard link copies count",
            ar.tar_gz([ar.file_member("a", bytes(MIB + 1)), ar.special_member("b", b"1", "a")]),
            "--max-expanded-mb",
        ),
    ],
)
def test_archive_limits(tmp_path: Path, name: str, archive: bytes, reason: str) -> None:
    with pytest.raises(ApiError) as info:
        extract(archive, tmp_path / "out", SMALL, allow_links=True)
    assert reason in info.value.description


def test_archive_within_limits_is_unpacked(tmp_path: Path) -> None:
    extract(ar.tar_files(ar.many(50)), tmp_path / "t", SMALL)
    extract(ar.zip_files(ar.spread(2 * MIB, 4)), tmp_path / "z", SMALL)
    assert len(list((tmp_path / "t").iterdir())) == 50
    assert sum(p.stat().st_size for p in (tmp_path / "z").iterdir()) == 2 * MIB


def test_fault_route_names_are_exactly_the_counted_routes() -> None:
    app = create_fastapi(Emulator(EmulatorConfig()))
    names = {getattr(route, "name", "") for route in app.routes}
    not_faultable = {n for n in names if n.startswith(("emulator_", "console_", "swagger_"))} | {"openapi"}
    assert names - not_faultable == set(FAULT_ROUTES)


def test_help_lists_samples_and_fault_routes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert SAMPLE_JOB_DEFINITION in text
    assert "SAMPLE_TRAIN_FAIL" in text
    for name in FAULT_ROUTES:
        assert f" {name} " in f" {text} "
    for flag in (
        "--allowed-host",
        "--code-root",
        "--max-upload-mb",
        "--max-expanded-mb",
        "--max-archive-files",
    ):
        assert flag in text


def _file(tmp_path: Path) -> str:
    path = tmp_path / "a-file"
    path.write_text("x")
    return str(path)


def _config(tmp_path: Path) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"log_page_size": 0}))
    return str(path)


CLI_CASES: list[tuple[str, list[str]]] = [
    ("--port", ["--port", "99999"]),
    ("--port", ["--port", "65536"]),
    ("--port", ["--port", "-1"]),
    ("--port", ["--port", "http"]),
    ("--state-dir", ["--state-dir", "{file}/sub"]),
    ("--state-dir", ["--state-dir", "{file}"]),
    ("--state-dir", ["--state-dir", "/proc/abeja-emulator-state"]),
    ("--ready-delay", ["--ready-delay", "-1"]),
    ("--ready-delay", ["--ready-delay", "nan"]),
    ("--ready-delay", ["--ready-delay", "inf"]),
    ("--ready-delay", ["--ready-delay", "1e9"]),
    ("--ready-delay", ["--ready-delay", "soon"]),
    ("--log-page-size", ["--log-page-size", "0"]),
    ("--log-page-size", ["--log-page-size", "-5"]),
    ("--log-page-size", ["--log-page-size", "many"]),
    ("--max-workers-per-service", ["--max-workers-per-service", "0"]),
    ("--max-upload-mb", ["--max-upload-mb", "0"]),
    ("--max-expanded-mb", ["--max-expanded-mb", "-1"]),
    ("--max-archive-files", ["--max-archive-files", "0"]),
    ("--organization", ["--organization", "../evil"]),
    ("--organization", ["--organization", ""]),
    ("--organization", ["--organization", "a/b"]),
    ("--organization", ["--organization", "a b"]),
    ("--organization", ["--organization", ".."]),
    ("--organization", ["--organization", "x" * 65]),
    ("--organization", ["--organization", "org\r\nX: y"]),
    ("--extra-organization", ["--extra-organization", "../x"]),
    ("--fault", ["--fault", "route=get_servce,status=500"]),
    ("--fault", ["--fault", "route=get_service,latency=inf"]),
    ("--fault", ["--fault", "route=get_service,latency=1e9"]),
    ("--fault", ["--fault", "route=get_service,status=503,retry_after=1\r\nX: y"]),
    ("--fault", ["--fault", '{"route": ']),
    ("--fault", ["--fault", "route=get_service"]),
    ("--code-root", ["--code-root", "/nonexistent/abeja"]),
    ("--config", ["--config", "/nonexistent/abeja.json"]),
    ("--config", ["--config", "{config}"]),
]


@pytest.mark.parametrize(("flag", "argv"), CLI_CASES, ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_a_bad_flag_is_one_line_naming_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flag: str,
    argv: list[str],
) -> None:
    def accepted(host: str, port: int) -> None:
        raise AssertionError(f"{flag} was accepted: the server would start")

    monkeypatch.setattr(cli, "bind", accepted)
    argv = [a.replace("{file}", _file(tmp_path)).replace("{config}", _config(tmp_path)) for a in argv]
    try:
        code = cli.main([*argv, "--port", "0"] if flag != "--port" else argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert flag in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_a_wildcard_bind_warns_and_still_refuses_foreign_names(abeja_emulator_factory) -> None:
    server = abeja_emulator_factory(host="0.0.0.0", sample=False)
    port = server.port
    assert "beyond loopback" in server.read_log()
    assert "no authentication" in server.read_log()
    url = f"http://127.0.0.1:{port}/_emulator/health"
    assert requests.get(url, timeout=10).ok
    assert requests.get(url, headers={"Host": "evil.example"}, timeout=10).status_code == 403


def test_allowed_host_adds_a_name_and_its_organization_subdomains(abeja_emulator_factory) -> None:
    server = abeja_emulator_factory(extra_args=["--allowed-host", "emulator.test"], sample=False)
    url = f"http://127.0.0.1:{server.port}/_emulator/health"
    for host, status in (("emulator.test", 200), ("1234567890123.emulator.test", 200), ("evil.example", 403)):
        assert requests.get(url, headers={"Host": host}, timeout=10).status_code == status
    assert "beyond loopback" not in server.read_log()
