"""What importing the provider adds to a DAG file's parse, next to the HTTP provider's operator.

DAG files are parsed again and again, and each parse imports the operators they use. This
benchmark starts fresh interpreters, imports ``airflow.sdk`` (which every DAG file pays anyway),
then times the import of our hook / operator / sensor / trigger modules, and of
``airflow.providers.http.operators.http`` for comparison. It reports the median over several
runs, the modules that cost the most (``-X importtime``), and checks that none of the emulator,
fastapi, uvicorn or starlette got imported on the way.

The HTTP provider is not a dependency of this project: when it is missing, it is installed with
pip into a cache folder (``--target``, outside the project's venv) and put on ``PYTHONPATH`` for
its own measurement only. ``--no-http`` skips it.

Usage: ``python bench/import_cost.py [--quick] [--runs N] [--no-http]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

GOAL_SECONDS = 0.050
HEAVY = ("fastapi", "uvicorn", "starlette", "abeja_emulator")
HTTP_PROVIDER = "apache-airflow-providers-http"
HTTP_MODULE = "airflow.providers.http.operators.http"
HTTP_NEEDS = (
    "aiohttp",
    "aiohappyeyeballs",
    "aiosignal",
    "frozenlist",
    "multidict",
    "propcache",
    "yarl",
    "requests-toolbelt",
)

OURS: dict[str, list[str]] = {
    "hook": ["airflow_provider_abeja.hooks.abeja"],
    "operators": [
        "airflow_provider_abeja.operators.service",
        "airflow_provider_abeja.operators.endpoint",
    ],
    "sensor": ["airflow_provider_abeja.sensors.service"],
    "trigger": ["airflow_provider_abeja.triggers.service"],
}
ALL_OURS = [module for modules in OURS.values() for module in modules] + [
    "airflow_provider_abeja.links.abeja"
]

# Runs in the fresh interpreter: time `import airflow.sdk`, then the modules under test.
PROBE = r"""
import importlib, json, sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
before = set(sys.modules)
sys.stderr.write("@@MARK@@\n"); sys.stderr.flush()
for name in sys.argv[1:]:
    importlib.import_module(name)
t2 = time.perf_counter()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("fastapi", "uvicorn", "starlette")
               or m == "abeja_emulator" or m.startswith("abeja_emulator."))
print(json.dumps({"sdk": t1 - t0, "extra": t2 - t1, "new_modules": len(set(sys.modules) - before),
                  "heavy": heavy, "heavy_before": sorted(m for m in heavy if m in before)}))
"""


@dataclass
class Result:
    label: str
    modules: list[str]
    extra: list[float] = field(default_factory=list)
    sdk: list[float] = field(default_factory=list)
    new_modules: int = 0
    heavy: list[str] = field(default_factory=list)
    heavy_before: list[str] = field(default_factory=list)
    top: list[tuple[float, str]] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.extra) if self.extra else float("nan")


def _env(extra_path: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="abeja-bench-home-"))
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), extra_path) if p)
    return env


def _run_probe(modules: list[str], env: dict[str, str], importtime: bool = False) -> tuple[dict, str]:
    args = [sys.executable]
    if importtime:
        args += ["-X", "importtime"]
    proc = subprocess.run(
        [*args, "-c", PROBE, *modules], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "probe failed")
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def _top_imports(stderr: str, count: int = 8) -> list[tuple[float, str]]:
    """Self time (s) of the modules imported after the marker, most expensive first."""
    _, _, after = stderr.partition("@@MARK@@")
    rows: list[tuple[float, str]] = []
    for line in after.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        rows.append((int(parts[0]) / 1e6, parts[2].rstrip()))
    rows.sort(reverse=True)
    return rows[:count]


def measure(label: str, modules: list[str], runs: int, env: dict[str, str]) -> Result:
    result = Result(label, modules)
    try:
        for _ in range(runs):
            data, _ = _run_probe(modules, env)
            result.extra.append(data["extra"])
            result.sdk.append(data["sdk"])
            result.new_modules = data["new_modules"]
            result.heavy = data["heavy"]
            result.heavy_before = data["heavy_before"]
        _, stderr = _run_probe(modules, env, importtime=True)
        result.top = _top_imports(stderr)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        result.error = str(exc)
    return result


def http_provider_path(allow_install: bool) -> tuple[str | None, str]:
    """Where the HTTP provider can be imported from: the venv, a cache folder, or nowhere."""
    if importlib.util.find_spec("airflow.providers.http") is not None:
        return None, "already installed in this environment"
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "abeja-bench-http-provider"
    if (cache / "airflow" / "providers" / "http").is_dir():
        return str(cache), f"from the cache folder {cache}"
    if not allow_install:
        return "", "not installed (run without --no-install to fetch it)"
    print(f"installing {HTTP_PROVIDER} into {cache} (pip --target, not into the venv) ...", flush=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
            str(cache),
            HTTP_PROVIDER,
            *HTTP_NEEDS,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return "", "could not be installed: " + (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
    return str(cache), f"installed now into the cache folder {cache}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs per case instead of 7")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP provider comparison")
    parser.add_argument("--no-install", action="store_true", help="never pip-install the HTTP provider")
    args = parser.parse_args(argv)
    runs = args.runs or (3 if args.quick else 7)
    env = _env(None)

    cases = [(label, modules) for label, modules in OURS.items()]
    cases.append(("all of ours (+ links)", ALL_OURS))
    results = [measure(label, modules, runs, env) for label, modules in cases]

    http: Result | None = None
    http_note = "skipped (--no-http)"
    if not args.no_http:
        path, http_note = http_provider_path(allow_install=not args.no_install)
        if path != "":
            http = measure(f"http provider ({HTTP_MODULE})", [HTTP_MODULE], runs, _env(path))

    sdk_times = [t for r in results for t in r.sdk]
    print()
    print(f"import cost on top of `import airflow.sdk` (median of {runs} fresh interpreters)")
    if sdk_times:
        print(f"`import airflow.sdk` itself: median {statistics.median(sdk_times) * 1000:.0f} ms")
    print(f"HTTP provider: {http_note}")
    print(f"load average (the machine may be shared): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print(f"{'what':<56} {'median ms':>10} {'min ms':>8} {'modules':>8}  heavy imports")
    for r in [*results, *([http] if http else [])]:
        if r.error:
            print(f"{r.label:<56} {'error':>10}  {r.error}")
            continue
        ours_heavy = [m for m in r.heavy if m not in r.heavy_before]
        print(
            f"{r.label:<56} {r.median * 1000:>10.1f} {min(r.extra) * 1000:>8.1f} {r.new_modules:>8}  "
            f"{', '.join(ours_heavy) or 'none'}"
        )
    print()
    verdict = 0
    all_ours = results[-1]
    if all_ours.error is None:
        goal_ok = all_ours.median < GOAL_SECONDS
        print(
            f"goal: all of ours < {GOAL_SECONDS * 1000:.0f} ms -> {all_ours.median * 1000:.1f} ms "
            f"{'OK' if goal_ok else 'OVER'}"
        )
        if http and http.error is None and http.median > 0:
            print(f"ratio: all of ours / http operator module = {all_ours.median / http.median:.2f}")
        heavy = [m for m in all_ours.heavy if m not in all_ours.heavy_before]
        print(f"web server / emulator modules imported by ours: {', '.join(heavy) or 'none'}")
        if all_ours.heavy_before:
            print(f"(already imported by airflow.sdk itself: {', '.join(all_ours.heavy_before)})")
        print()
        print("most expensive modules imported by ours (self time, -X importtime):")
        for seconds, name in all_ours.top:
            print(f"  {seconds * 1000:7.1f} ms  {name.strip()}")
        if not goal_ok or heavy:
            verdict = 1
    else:
        verdict = 1
    if http and http.error is None:
        print()
        print("most expensive modules imported by the http operator module:")
        for seconds, name in http.top:
            print(f"  {seconds * 1000:7.1f} ms  {name.strip()}")
    return verdict


if __name__ == "__main__":
    sys.exit(main())
