"""The runtime's zygote: a Python that has imported what `abejaruntime` imports, and forks per instance.

Run as a script by `runtime_fork.ForkServer` (never imported by the emulator), with the environment
every instance shares. It imports numpy and the standard modules the runtime needs, but nothing of
`abejaruntime` (which reads `CONTEXT` when imported) nor of the user's code. Each request on the
control socket (a SEQPACKET socket: a JSON document with `argv`, `cwd` and `env`, and the child's
stdin, stdout and stderr as passed descriptors) forks a child that becomes what a fresh
`abeja-runtime-python` would be: its own session, dead with the zygote, those three descriptors and
no other, the request's folder, environment, `sys.path` (from `PYTHONPATH` as Python's start-up
computes it), `sys.argv`; then it runs the runtime's console script (or `-m` module) as `__main__`.
The answer is the child's pid and a pidfd (to signal it without a pid-reuse race); its exit status
follows as `{"exit": pid, "code": code}` once the zygote has reaped it. End of the control socket
(the emulator gone) ends the zygote, and with it its children.
"""

import sys

del sys.path[0]  # this folder (the emulator's modules) is no folder of the runtime's

import ctypes  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import runpy  # noqa: E402
import selectors  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

#: What `abejaruntime` 1.1.1 imports besides itself (numpy is most of a runtime's start-up).
PRELOADED = (
    "array", "asyncio", "binascii", "cgi", "csv", "datetime", "functools", "http", "importlib",
    "json", "logging", "numpy", "pathlib", "struct", "subprocess", "tempfile", "typing",
)  # fmt: skip
MAX_MESSAGE = 1 << 20
_PR_SET_PDEATHSIG = 1
_OWN_ENTRIES = {
    os.path.abspath(entry) for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry
}
_BASE_PATH = [entry for entry in sys.path if entry not in _OWN_ENTRIES]  # a child's PYTHONPATH goes first


#: One BLAS thread in the zygote: a fork copies only the forking thread, so a BLAS worker holding a
#: lock (the allocator's) at that moment would leave the child waiting on it forever.
_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def preload() -> None:
    given = {name: os.environ.get(name) for name in _ONE_THREAD}
    os.environ.update(dict.fromkeys(_ONE_THREAD, "1"))
    try:
        _import_preloaded()
    finally:  # read by the BLAS when numpy loads it; the zygote's environment stays as it was given
        for name, value in given.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def _import_preloaded() -> None:
    with warnings.catch_warnings():  # `cgi` warns of its removal where the runtime's import is silent
        warnings.simplefilter("ignore", DeprecationWarning)
        __import__("cgi")
    for name in PRELOADED:  # outside: numpy adds warning filters of its own
        __import__(name)


def serve(control: socket.socket) -> dict | None:
    """Fork children until the control socket ends (None); in a child, its request."""
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    children: dict[int, int] = {}  # pidfd -> pid
    zygote = os.getpid()
    while True:
        for key, _ in selector.select():
            if key.fileobj is not control:
                pidfd = key.fd
                selector.unregister(pidfd)
                pid = children.pop(pidfd)
                os.close(pidfd)
                _, status = os.waitpid(pid, 0)
                control.send(json.dumps({"exit": pid, "code": os.waitstatus_to_exitcode(status)}).encode())
                continue
            try:
                message, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 3)
            except ConnectionResetError:  # the emulator ended without closing its end
                return None
            if not message:
                return None
            request = json.loads(message)
            with warnings.catch_warnings():  # Python 3.12 warns of forking beside numpy's BLAS threads
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:
                selector.close()
                control.close()
                for pidfd in children:
                    os.close(pidfd)
                _become_child(fds, zygote)
                return request
            for fd in fds:
                os.close(fd)
            pidfd = os.pidfd_open(pid)
            socket.send_fds(control, [json.dumps({"pid": pid}).encode()], [pidfd])
            children[pidfd] = pid
            selector.register(pidfd, selectors.EVENT_READ)


def _become_child(fds: list[int], zygote: int) -> None:
    """Own session, killed with the zygote, the three given descriptors as 0, 1, 2 and no others."""
    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != zygote:  # the zygote died before the line above: no one would kill this child
        os._exit(1)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        os.close(fd)


def python_path(pythonpath: str) -> list[str]:
    """`sys.path` but its first entry, as start-up builds it: PYTHONPATH's entries, then the base
    path, normalised and without repeats (`site.removeduppaths`). The emulator forks only children
    whose PYTHONPATH is absolute and ends with the zygote's, so the result is exact."""
    entries = [os.path.abspath(entry) for entry in pythonpath.split(os.pathsep) if entry]
    return list(dict.fromkeys(entries + _BASE_PATH))


def run(request: dict) -> None:
    """In the child: take the instance's folder, environment and arguments, then run the runtime."""
    argv: list[str] = request["argv"]
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    tempfile.tempdir = None
    module = argv[2] if argv[1:2] == ["-m"] else None
    first = os.getcwd() if module else os.path.dirname(argv[0])
    sys.path[:] = [first, *python_path(os.environ.get("PYTHONPATH", ""))]
    sys.path_importer_cache.clear()
    sys.orig_argv[:] = argv if module else [sys.executable, *argv]
    if module:
        sys.argv[:] = ["-m", *argv[3:]]  # runpy puts the module's file first, as `python -m` does
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        sys.argv[:] = argv
        runpy.run_path(argv[0], run_name="__main__")


def main() -> None:
    preload()
    control = socket.socket(fileno=int(sys.argv[1]))
    request = serve(control)
    if request is not None:
        run(request)


if __name__ == "__main__":
    main()
