"""`abeja-emulator`: serve the emulator on loopback until SIGINT / SIGTERM."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence

from . import cli_checks as checks
from . import config as defaults
from . import sample
from .code_roots import default_code_roots
from .faults import MAX_LATENCY, build_fault, parse_fault_spec
from .host_policy import is_loopback
from .limits import (
    DEFAULT_MAX_ARCHIVE_FILES,
    DEFAULT_MAX_EXPANDED_MB,
    DEFAULT_MAX_UPLOAD_MB,
    MIB,
    UploadLimits,
)
from .route_names import FAULT_ROUTES

DEFAULT_PORT = 8765
LISTEN_MESSAGE = "ABEJA Platform emulator listening on"


_LIMIT_FLAGS = (
    ("--max-upload-mb", DEFAULT_MAX_UPLOAD_MB, "largest request body (code and training uploads included)"),
    ("--max-expanded-mb", DEFAULT_MAX_EXPANDED_MB, "largest total size of an unpacked archive"),
    ("--max-archive-files", DEFAULT_MAX_ARCHIVE_FILES, "most members in one archive"),
)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults after every option; the epilog keeps its line breaks."""


def _routes() -> str:
    lines, line = [], " "
    for name in ("*", *FAULT_ROUTES):
        if len(line) + len(name) + 1 > 100:
            lines.append(line)
            line = " "
        line += " " + name
    return "\n".join([*lines, line])


def _epilog() -> str:
    return f"""what a new emulator holds (unless --no-sample):
  organization  {defaults.DEFAULT_ORGANIZATION_ID}
  deployment    {sample.SAMPLE_DEPLOYMENT_ID} ("{sample.SAMPLE_DEPLOYMENT_NAME}")
  versions      {sample.SAMPLE_VERSION_ID} (v1), {sample.SAMPLE_VERSION_ID_V2} (v2),
                {sample.SAMPLE_BAD_VERSION_ID} (its services go FAILED)
  training      job definition "{sample.SAMPLE_JOB_DEFINITION}", version 1 trains the sample model
                (train:handler); the environment variable SAMPLE_TRAIN_FAIL=<reason> makes a job fail,
                SAMPLE_TRAIN_SECONDS=<n> makes it take that long
fault routes (--fault route=NAME; * matches all; latency at most {MAX_LATENCY:g} s):
{_routes()}
safety: only loopback Host names are answered (add names with --allowed-host); the control API
  (/_emulator/, no authentication) takes application/json from no foreign Origin; code_dir must be
  under a --code-root (default: {", ".join(str(p) for p in default_code_roots())}).
accepted credentials:
  user id {defaults.DEFAULT_USER_ID} + personal access token {defaults.DEFAULT_PERSONAL_ACCESS_TOKEN}
  bearer token {defaults.DEFAULT_BEARER_TOKEN}
  datasource {defaults.DEFAULT_DATASOURCE_ID} + secret {defaults.DEFAULT_DATASOURCE_SECRET}
console (read-only): http://HOST:PORT/console/organizations/ORG/deployments/DEP/services/SER
stop it with Ctrl-C (or SIGTERM): nothing is kept unless --state-dir is given."""


def build_parser() -> argparse.ArgumentParser:
    parser = checks.OneLineParser(
        prog="abeja-emulator",
        description="A local ABEJA Platform emulator: Service API, inference and fault injection.",
        epilog=_epilog(),
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (beyond loopback: a warning, no authentication)"
    )
    parser.add_argument("--port", type=checks.port, default=DEFAULT_PORT, help="port (0 picks a free one)")
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another Host name to answer besides loopback and --host ('*': any) (repeatable)",
    )
    parser.add_argument(
        "--code-root",
        action="append",
        type=checks.directory,
        default=None,
        metavar="DIR",
        help="a folder a version's code_dir may be under (repeatable; default: the temporary folder and "
        "the sample handler)",
    )
    for flag, default, meaning in _LIMIT_FLAGS:
        parser.add_argument(flag, type=checks.positive_int, default=default, help=meaning)
    parser.add_argument(
        "--ready-delay",
        type=checks.seconds,
        default=defaults.DEFAULT_READY_DELAY,
        help="seconds from IN_PROGRESS to READY",
    )
    parser.add_argument("--state-dir", default=None, help="keep state in SQLite in this directory")
    parser.add_argument("--no-sample", action="store_true", help="start without the sample deployment")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help='fault rule: "route=get_service,status=503,times=2" or JSON (repeatable)',
    )
    parser.add_argument(
        "--organization",
        type=checks.plain_id,
        default=defaults.DEFAULT_ORGANIZATION_ID,
        help="default organization id",
    )
    parser.add_argument(
        "--extra-organization",
        action="append",
        type=checks.plain_id,
        default=[],
        metavar="ORG",
        help="another organization the default credentials may use (repeatable)",
    )
    parser.add_argument("--user-id", default=defaults.DEFAULT_USER_ID, help="accepted user id")
    parser.add_argument(
        "--personal-access-token",
        default=defaults.DEFAULT_PERSONAL_ACCESS_TOKEN,
        help="accepted personal access token of --user-id",
    )
    parser.add_argument("--bearer-token", default=defaults.DEFAULT_BEARER_TOKEN, help="accepted bearer token")
    parser.add_argument(
        "--datasource-id", default=defaults.DEFAULT_DATASOURCE_ID, help="accepted datasource id"
    )
    parser.add_argument(
        "--datasource-secret", default=defaults.DEFAULT_DATASOURCE_SECRET, help="secret of --datasource-id"
    )
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="JSON file of settings (same keys as POST /_emulator/config)",
    )
    parser.add_argument(
        "--log-page-size", type=checks.positive_int, default=50, help="events per recentlogs page"
    )
    parser.add_argument(
        "--max-workers-per-service",
        type=checks.positive_int,
        default=16,
        help="cap on worker processes per service",
    )
    parser.add_argument("--ssl-certfile", default=None, help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--ssl-keyfile", default=None, help="private key of --ssl-certfile (PEM)")
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started the emulator exits (used by EmulatorProcess)",
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn log level")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser


def build_config(args: argparse.Namespace) -> defaults.EmulatorConfig:
    config = defaults.EmulatorConfig(
        organization_id=args.organization,
        extra_organizations=list(args.extra_organization),
        ready_delay=args.ready_delay,
        users={args.user_id: {"token": args.personal_access_token}},
        bearer_tokens={args.bearer_token: {}},
        datasources={args.datasource_id: {"secret": args.datasource_secret}},
        log_page_size=args.log_page_size,
        max_workers_per_service=args.max_workers_per_service,
    )
    if args.config:
        with open(args.config, encoding="utf-8") as handle:
            config.update(json.load(handle))
    return config


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(False)
    return sock


def url_for(host: str, port: int) -> str:
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False
    return f"http://[{host}]:{port}" if is_v6 else f"http://{host}:{port}"


def build_limits(args: argparse.Namespace) -> UploadLimits:
    return UploadLimits(
        max_upload_bytes=args.max_upload_mb * MIB,
        max_expanded_bytes=args.max_expanded_mb * MIB,
        max_archive_files=args.max_archive_files,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import uvicorn  # the web stack loads only when serving

    from .app import create_app
    from .code_roots import CodeRoots
    from .core import Emulator
    from .errors import ApiError
    from .host_policy import HostPolicy
    from .store import NullStore, SqliteStore

    try:
        config = build_config(args)
    except (ApiError, ValueError, OSError) as exc:
        return checks.fail("--config", str(exc))
    try:
        fault_specs = [parse_fault_spec(spec) for spec in args.fault]
        for spec in fault_specs:
            build_fault(spec)
    except (ApiError, ValueError) as exc:
        return checks.fail("--fault", str(exc))
    if args.state_dir and (problem := checks.writable_folder(args.state_dir)):
        return checks.fail("--state-dir", f"{args.state_dir!r} cannot hold the state ({problem})")
    try:
        store = SqliteStore(args.state_dir) if args.state_dir else NullStore()
    except (OSError, sqlite3.Error) as exc:
        return checks.fail("--state-dir", f"{args.state_dir!r} cannot hold the state ({exc})")
    emulator = Emulator(
        config,
        store,
        sample=not args.no_sample,
        faults=fault_specs,
        limits=build_limits(args),
        code_roots=CodeRoots(args.code_root) if args.code_root else None,
    )
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        print("abeja-emulator: --ssl-certfile and --ssl-keyfile go together", file=sys.stderr)
        return 2
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
        print(
            f"abeja-emulator: {args.host}:{args.port} {reason}; choose another --port (0 picks a free one) "
            "or stop the emulator already running there",
            file=sys.stderr,
        )
        return 2
    url = url_for(args.host, sock.getsockname()[1])
    if args.ssl_certfile and url.startswith("http://"):
        url = "https://" + url[len("http://") :]
    emulator.public_url = url
    hosts = HostPolicy.for_bind(args.host, args.allowed_host)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(emulator, hosts),
            log_level=args.log_level,
            access_log=args.access_log,
            lifespan="on",
            timeout_graceful_shutdown=3,
            timeout_keep_alive=30,
            ssl_certfile=args.ssl_certfile,
            ssl_keyfile=args.ssl_keyfile,
        )
    )
    print(f"{LISTEN_MESSAGE} {url}", flush=True)
    where = f"in {store.path}" if store.path else "in memory"
    print(f"organization {config.organization_id}; state {where}", flush=True)
    if not is_loopback(args.host):
        print(
            f"abeja-emulator: warning: listening on {args.host}, beyond loopback: whoever reaches this port "
            "can use the control API (no authentication) and run code as you; Host names answered: "
            f"{hosts.describe()}",
            file=sys.stderr,
            flush=True,
        )
    # uvicorn shuts down gracefully (workers included), then re-raises the signal it caught with the
    # handler that was installed before it: make that a clean exit instead of death by signal.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    if args.exit_with_parent:
        _watch_parent()
    server.run(sockets=[sock])
    return 0


def _watch_parent() -> None:
    """A killed test run must not leave its emulator behind: SIGTERM ourselves when the parent goes."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _exit_cleanly(signum: int, frame: object) -> None:
    sys.exit(0)


if __name__ == "__main__":
    sys.exit(main())
