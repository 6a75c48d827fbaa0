"""Many service waits at once: AbejaServiceStatusTrigger on one event loop vs the sync client in threads.

A triggerer runs every deferred task's trigger on one asyncio loop; without deferral each wait
holds a thread (a worker slot) that polls with the blocking client. This benchmark starts the
emulator (``EmulatorProcess``), creates one DISTINCT service per wait (what users have), spread
over ``--deployments`` deployments and held ``IN_PROGRESS`` by a long ready delay (the emulator
starts no instance for them), and runs the same waits both ways in one run, for each poll
interval asked:

- ``async``: N ``AbejaServiceStatusTrigger(...).run()`` on ONE event loop (connection from an
  ``AIRFLOW_CONN_...`` variable, as in a triggerer): the waits of one deployment share one
  ``get_services`` listing per interval (``wait/pool.Watch``);
- ``threads``: N threads sharing ONE sync ``APIClient`` (its pool sized to N, so no thread ever
  reconnects), each polling ``client.get_service`` with ``time.sleep`` between polls (as N
  workers would): the baseline, one request per wait per poll.

Every wait waits for ``STOPPED`` (``FAILED`` is its failure status); each starts at a random
offset within the first interval, as deferred tasks do. After the measured window every
service is forced to ``STOPPED`` (nothing to start in the emulator) and each wait ends on its
next poll. Measured:

- platform requests per second: every API request the emulator counted (listings, service
  reads, recent logs);
- CPU seconds per wait per poll: this process's CPU time (all threads) / observations the waits
  made (each trigger's ``engine.step`` calls, counted by a wrapper whose cost is included;
  each thread's polls);
- event-loop lag: a ticker coroutine sleeps 10 ms again and again and records how late it
  wakes up (p50 / p99 / max). In the threaded run the same ticker shows what the threads do to a
  loop sharing the process (the GIL);
- the emulator's own CPU per request and the poll rate achieved vs asked, to tell when the
  emulator (not the client) is the bottleneck: it shares the machine's cores with this process;
- full (generation 2) garbage collections: count and pauses (cyclic garbage per request used
  to push them to hundreds of milliseconds with 1,000 requests in flight).

Each figure is given for the whole run (start-up and end of every wait included) and for the
steady state (after every wait started, before the end). The machine is shared: the load
average is printed.

Goals (issue 16): async platform requests at most 20 per second for 1,000 waits over 10
deployments at 1 s polls (one per wait: about 1,000); async CPU per wait per poll at most 1/5 of
the threaded one; async lag p99 under 50 ms.

Measured (1,000 waits over 10 deployments, 1 s polls, 2 shared cores, load average 1.5; steady
state / whole run): async 11.2 / 11.9 platform requests per second (threads 961 / 795); CPU per
wait per poll 0.092 / 0.223 ms (threads 0.891 / 1.145 ms: 9.7x / 5.1x); async lag p99 2.9 / 6.8 ms
(threads 81.9 / 162.6 ms). On the same machine under a load average of 10-19 (other test suites
running): 11.5 requests per second, 10.7x, lag p99 38.6 ms steady (60.9 ms over the whole run,
start-up included). Before the shared listing, every wait sent one GET per poll: about 1,000
requests per second, 0.94-1.39 ms of CPU per poll (the same as threads), lag p99 up to 106 ms.

Clients per pool (``wait/pool.WAITS_PER_CLIENT``), measured with 1,000 waits sending one
GET per wait per poll (before the shared listings): one pool for all cost 6.1 ms CPU per poll at
1 s polls as requests piled up (httpcore's pool upkeep grows with its connections); 32 waits per
client 1.5 ms; 8 per client 0.8 ms (1.1 ms at 5 s polls); one client each 0.7 ms at 1 s polls but
1.25 ms at 5 s polls, where its lone connection expires between polls and reconnects. Hence 8.
Building a TLS context reads the whole CA bundle (about 20 ms of CPU): 1,000 triggers with one
each would block the loop for 20 s, so the async client shares one per CA setting
(``client/aio._ssl_context``).

Usage: ``python bench/trigger_scale.py [--quick] [--waits N] [--services K] [--deployments D]
[--poll-interval S[,S...]] [--duration S]``. ``--quick``: 200 waits over 2 deployments, 1 s
polls (under a minute); default: 1,000 waits over 10 deployments at 1 s polls (about two
minutes). Exit status 0 when every goal is met in every steady state, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

# Airflow reads its home and config on first import: a private home, before any Airflow import.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="abeja-bench-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from abeja_emulator.process import EmulatorProcess

CONN_ID = "abeja_bench"
TARGET = "STOPPED"  # forcing it starts nothing in the emulator (READY would start 1,000 instances)
FAILURE = "FAILED"
TICK = 0.010
CPU_GOAL_RATIO = 5.0
LAG_GOAL = 0.050
#: Platform requests per second the async waits may send, per 1,000 waits at 1 s polls.
REQUESTS_GOAL = 20.0

#: Observations the waits made in this process (the measured child runs one mode).
_POLLS = [0]


@dataclass
class Window:
    """What one measured stretch of time cost: CPU, polls, platform requests, emulator CPU, lag."""

    wall: float = 0.0
    cpu: float = 0.0
    polls: int = 0
    requests: int = 0
    emulator_cpu: float = 0.0
    lags: list[float] = field(default_factory=list)

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.wall if self.wall else float("nan")

    @property
    def cpu_per_poll(self) -> float:
        return self.cpu / self.polls if self.polls else float("nan")

    def lag(self, q: float) -> float:
        if not self.lags:
            return float("nan")
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Run:
    """One mode's results: the whole run (start-up of every wait included) and its steady state."""

    mode: str
    waits: int
    whole: Window = field(default_factory=Window)
    steady: Window = field(default_factory=Window)
    outcomes: dict[str, int] = field(default_factory=dict)
    rss_start: float = 0.0
    rss_peak: float = 0.0
    threads_peak: int = 0
    gc_pauses: list[float] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        whole, steady = Window(**data.pop("whole")), Window(**data.pop("steady"))
        return cls(whole=whole, steady=steady, **data)


class _Mark:
    """A point in time: CPU of this process and of the emulator, polls and requests, lag samples so far."""

    def __init__(self, requests: int, emulator_pid: int, lag_count: int) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        self.emulator_cpu = _proc_cpu(emulator_pid)
        self.polls = _POLLS[0]
        self.requests = requests
        self.lag_count = lag_count

    def window_to(self, end: _Mark, lags: list[float]) -> Window:
        return Window(
            wall=end.wall - self.wall,
            cpu=end.cpu - self.cpu,
            polls=end.polls - self.polls,
            requests=end.requests - self.requests,
            emulator_cpu=end.emulator_cpu - self.emulator_cpu,
            lags=lags[self.lag_count : end.lag_count],
        )


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (Linux ``/proc``); 0.0 where unavailable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class _GcPauses:
    """Records how long each full (generation 2) garbage collection stops the process."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._start)


def _rss_mb() -> float:
    """Resident memory of this process in MB (Linux ``/proc``); 0.0 where unavailable."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


async def _ticker(run: Run, lags: list[float], stop: asyncio.Event) -> None:
    """Sleep TICK again and again; record how late each wake-up is, and sample memory and threads."""
    loop = asyncio.get_running_loop()
    count = 0
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(TICK)
        lags.append(max(0.0, loop.time() - start - TICK))
        count += 1
        if count % 20 == 0:
            run.rss_peak = max(run.rss_peak, _rss_mb())
            run.threads_peak = max(run.threads_peak, threading.active_count())


def _quiet_logger() -> logging.Logger:
    # The threaded waits log nothing; keep the triggers' per-status info lines out of the CPU figure.
    logger = logging.getLogger("bench.trigger")
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    logger.addHandler(logging.StreamHandler(sys.stderr))
    return logger


def _count_steps() -> None:
    """Count every observation the triggers make (their one call of ``engine.step`` each)."""
    from airflow_provider_abeja.wait import engine

    step = engine.step

    def counted(*args: Any) -> Any:
        _POLLS[0] += 1
        return step(*args)

    engine.step = counted  # type: ignore[assignment]


async def _async_waits(org: str, services: list[tuple[str, str]], waits: int, poll: float) -> dict[str, int]:
    from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger

    quiet = _quiet_logger()
    _count_steps()

    async def one(index: int) -> str:
        await asyncio.sleep(random.uniform(0, poll))
        deployment_id, service_id = services[index % len(services)]
        trigger = AbejaServiceStatusTrigger(
            organization_id=org,
            deployment_id=deployment_id,
            service_id=service_id,
            target_status=TARGET,
            failure_statuses=[FAILURE],
            poll_interval=poll,
            abeja_conn_id=CONN_ID,
        )
        trigger._log = quiet  # type: ignore[assignment]
        status = "none"
        async for event in trigger.run():
            status = str(event.payload["status"])
        return status

    results = await asyncio.gather(*(one(i) for i in range(waits)))
    return _count(results)


def _thread_wait(client: Any, org: str, service: tuple[str, str], poll: float) -> str:
    """One wait as a worker would do it: poll, sleep, poll (the trigger's transient tolerance, roughly)."""
    time.sleep(random.uniform(0, poll))
    while True:
        _POLLS[0] += 1  # the GIL makes this exact enough for a count of thousands
        try:
            status = client.get_service(org, *service).get("status")
        except Exception as exc:
            logging.getLogger("bench.threads").warning("poll failed: %s", exc)
            status = None
        if status == TARGET:
            return "success"
        if status == FAILURE:
            return "failure"
        time.sleep(poll)


async def _threaded_waits(
    org: str, services: list[tuple[str, str]], waits: int, poll: float
) -> dict[str, int]:
    from airflow_provider_abeja.client import APIClient
    from airflow_provider_abeja.hooks.abeja import AbejaHook

    # One client for every thread, its pool as large as the threads: no thread reconnects.
    kwargs = AbejaHook(abeja_conn_id=CONN_ID).settings.client_kwargs()
    loop = asyncio.get_running_loop()
    with (
        APIClient(**kwargs, pool_maxsize=waits) as client,
        ThreadPoolExecutor(max_workers=waits, thread_name_prefix="wait") as pool,
    ):
        futures = [
            loop.run_in_executor(pool, _thread_wait, client, org, services[i % len(services)], poll)
            for i in range(waits)
        ]
        results = await asyncio.gather(*futures)
    return _count(results)


def _count(results: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        counts[result] = counts.get(result, 0) + 1
    return counts


async def _measure(mode: str, args: argparse.Namespace) -> Run:
    """The measured window, in a child process that runs one mode only."""
    from abeja_emulator.handle import EmulatorHandle
    from airflow_provider_abeja.hooks.abeja import AbejaHook

    handle = EmulatorHandle(args.emulator_url)
    org = handle.organization_id
    services = [_split(item) for item in args.service_ids.split(",")]
    # Warm up imports and the connection path once, outside the window.
    AbejaHook(abeja_conn_id=CONN_ID).client.get_services(org, services[0][0])
    if mode == "async":
        from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger  # noqa: F401

    def requests() -> int:
        """Every platform API request the emulator counted (its control routes are not counted)."""
        return sum(int(count) for count in handle.counters()["requests"].values())

    if args.gc_freeze:
        # What Airflow's DAG processor does: move import-time objects out of the collector's sight.
        gc.collect()
        gc.freeze()
    run = Run(mode, args.waits)
    gc_pauses = _GcPauses()
    gc.callbacks.append(gc_pauses)
    lags: list[float] = []
    stop = asyncio.Event()
    run.rss_start = run.rss_peak = _rss_mb()
    start = _Mark(requests(), args.emulator_pid, 0)
    ticker = asyncio.create_task(_ticker(run, lags, stop))
    waiter = _async_waits if mode == "async" else _threaded_waits
    waiting = asyncio.create_task(waiter(org, services, args.waits, args.poll))

    # Every wait starts within the first poll interval; steady state is what follows.
    ramp = _ramp(args.poll)
    await asyncio.sleep(ramp)
    steady_start = _Mark(await asyncio.to_thread(requests), args.emulator_pid, len(lags))
    await asyncio.sleep(args.duration - ramp)
    steady_end = _Mark(await asyncio.to_thread(requests), args.emulator_pid, len(lags))
    # End every wait (the next poll sees the target), from a few threads outside the loop.
    await asyncio.to_thread(_force_all, handle, services, TARGET)
    run.outcomes = await waiting
    stop.set()
    await ticker
    end = _Mark(requests(), args.emulator_pid, len(lags))
    gc.callbacks.remove(gc_pauses)
    run.gc_pauses = gc_pauses.pauses
    run.whole = start.window_to(end, lags)
    run.steady = steady_start.window_to(steady_end, lags)
    handle.close()
    return run


def _ramp(poll: float) -> float:
    """Seconds until every wait has started and polled once."""
    return poll * 1.5 + 0.5


def _duration(poll: float, asked: float | None, quick: bool) -> float:
    """Seconds before the end: the ramp plus a steady state of at least three polls per wait."""
    base = asked if asked is not None else (5.0 if quick else 10.0)
    return max(base, _ramp(poll) + 3 * poll)


def _split(item: str) -> tuple[str, str]:
    deployment_id, _, service_id = item.partition(":")
    return deployment_id, service_id


def _force_all(handle: Any, services: list[tuple[str, str]], status: str) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda service: handle.set_service_status(service[1], status), services))


def _create_services(handle: Any, count: int, deployments: int) -> list[tuple[str, str]]:
    """``count`` services spread evenly over ``deployments`` new deployments: (deployment, service)."""
    targets = []
    for index in range(deployments):
        deployment_id = str(handle.create_deployment(f"bench-{index}")["deployment_id"])
        targets.append((deployment_id, str(handle.create_version(deployment_id)["version_id"])))

    def create(index: int) -> tuple[str, str]:
        deployment_id, version_id = targets[index % deployments]
        return deployment_id, str(handle.create_service(deployment_id, version_id)["service_id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(create, range(count)))


def _child(args: argparse.Namespace) -> int:
    run = asyncio.run(_measure(args.child, args))
    print(json.dumps(asdict(run)))
    return 0


def _run_child(mode: str, emulator: EmulatorProcess, args: argparse.Namespace, poll: float) -> Run:
    """Create fresh IN_PROGRESS services, run one mode in a fresh interpreter, stop the services."""
    handle = emulator.handle
    handle.reset()  # the previous run's services and counters go
    handle.configure(ready_delay=3600)
    services = _create_services(handle, args.services, args.deployments)
    env = dict(os.environ)
    env.update(handle.airflow_connection_env(CONN_ID, timeout=30))
    command = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--emulator-url",
        emulator.url,
        "--emulator-pid",
        str(emulator.pid or 0),
        "--service-ids",
        ",".join(f"{dep}:{ser}" for dep, ser in services),
        "--waits",
        str(args.waits),
        "--poll",
        str(poll),
        "--duration",
        str(_duration(poll, args.duration, args.quick)),
        *(["--gc-freeze"] if args.gc_freeze else []),
    ]
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    finally:
        _force_all(handle, services, TARGET)  # already so unless the child failed
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{proc.stderr[-3000:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return Run.from_dict(data)


def _row(label: str, window: Window, extra: str = "") -> str:
    emu = window.emulator_cpu / window.requests * 1000 if window.requests else float("nan")
    rate = window.polls / window.wall if window.wall else float("nan")
    return (
        f"{label:<16} {window.polls:>7} {rate:>8.0f} {window.requests_per_second:>7.0f} {window.cpu:>7.2f} "
        f"{window.cpu_per_poll * 1000:>12.3f} {window.lag(0.5) * 1000:>11.1f} "
        f"{window.lag(0.99) * 1000:>11.1f} {max(window.lags, default=0) * 1000:>11.1f} {emu:>15.3f}{extra}"
    )


@dataclass
class Verdict:
    """One window's figures against the goals."""

    ratio: float
    requests_per_second: float
    lag_p99: float
    requests_goal: float

    @property
    def cpu_ok(self) -> bool:
        return self.ratio >= CPU_GOAL_RATIO

    @property
    def requests_ok(self) -> bool:
        return self.requests_per_second <= self.requests_goal

    @property
    def lag_ok(self) -> bool:
        return self.lag_p99 < LAG_GOAL

    @property
    def met(self) -> bool:
        return self.cpu_ok and self.requests_ok and self.lag_ok


def _verdict(aio: Run, threads: Run, window: str, poll: float) -> Verdict:
    """The async run's figures in one window against the goals (requests scaled to the waits and poll)."""
    a_win, t_win = getattr(aio, window), getattr(threads, window)
    ratio = t_win.cpu_per_poll / a_win.cpu_per_poll if a_win.cpu_per_poll else float("nan")
    goal = REQUESTS_GOAL * (aio.waits / 1000) / poll
    return Verdict(ratio, a_win.requests_per_second, a_win.lag(0.99), max(goal, 1.0))


def _ok(flag: bool) -> str:
    return "OK" if flag else "MISSED"


def _report(runs: list[Run], args: argparse.Namespace, poll: float) -> None:
    asked = args.waits / poll
    print()
    print(
        f"{args.waits} waits, poll every {poll:g} s (asked {asked:.0f} polls/s), "
        f"{_duration(poll, args.duration, args.quick):g} s before the end, {args.services} distinct "
        f"services over {args.deployments} deployments, {os.cpu_count()} CPU(s) shared with the emulator"
    )
    print(
        f"{'mode / window':<16} {'polls':>7} {'polls/s':>8} {'req/s':>7} {'CPU s':>7} {'CPU ms/poll':>12} "
        f"{'lag p50 ms':>11} {'lag p99 ms':>11} {'lag max ms':>11} {'emu CPU ms/req':>15}"
    )
    for run in runs:
        print(_row(f"{run.mode} whole", run.whole))
        print(_row(f"{run.mode} steady", run.steady))
    print()
    for run in runs:
        print(
            f"{run.mode}: peak RSS growth {run.rss_peak - run.rss_start:.1f} MB, peak threads "
            f"{run.threads_peak}, full GC pauses {len(run.gc_pauses)} "
            f"(total {sum(run.gc_pauses) * 1000:.0f} ms, max {max(run.gc_pauses, default=0) * 1000:.0f} ms), "
            f"outcomes {json.dumps(run.outcomes)}"
        )
    by_mode = {run.mode: run for run in runs}
    aio, threads = by_mode["async"], by_mode["threads"]
    print()
    for name, which in (("whole run", "whole"), ("steady state", "steady")):
        v = _verdict(aio, threads, which, poll)
        print(
            f"{name}: async platform requests {v.requests_per_second:.1f}/s (goal <= {v.requests_goal:g}/s, "
            f"threads {getattr(threads, which).requests_per_second:.0f}/s) {_ok(v.requests_ok)}; "
            f"CPU per wait per poll threads / async = {v.ratio:.2f}x (goal >= {CPU_GOAL_RATIO:g}x) "
            f"{_ok(v.cpu_ok)}; async lag p99 {v.lag_p99 * 1000:.1f} ms (goal < {LAG_GOAL * 1000:.0f} ms) "
            f"{_ok(v.lag_ok)}; threads lag p99 {getattr(threads, which).lag(0.99) * 1000:.1f} ms"
        )
    for run in runs:
        window = run.steady
        rate = window.polls / window.wall if window.wall else 0.0
        if rate < 0.8 * asked:
            own = window.cpu / window.wall * 100
            emu = window.emulator_cpu / window.wall * 100
            culprit = (
                "the emulator"
                if emu >= 80
                else "this process (its CPU)"
                if own >= 80
                else "the machine (other load on its cores)"
            )
            print(
                f"note: {run.mode} steady state reached {rate:.0f} polls/s of the {asked:.0f} asked; CPU: "
                f"this process {own:.0f}% of a core, emulator {emu:.0f}%: limited by {culprit}"
            )
    bad = {mode: {k: v for k, v in run.outcomes.items() if k != "success"} for mode, run in by_mode.items()}
    if any(bad.values()):
        print(f"waits that did not end in success: {bad}")


def _summary(results: list[tuple[float, list[Run]]], args: argparse.Namespace) -> int:
    """One line per poll interval (steady state); exit status 0 when every goal is met."""
    print()
    print(
        f"summary, steady state, {args.waits} waits on distinct services over {args.deployments} deployments:"
    )
    print(
        f"{'poll s':>6} {'async req/s':>12} {'threads req/s':>14} {'async ms/poll':>14} "
        f"{'threads ms/poll':>16} {'threads/async':>14} {'async lag p99 ms':>17} {'async full GCs':>15}"
        "  goals (requests, CPU, lag)"
    )
    verdict = 0
    for poll, runs in results:
        by_mode = {run.mode: run for run in runs}
        aio, threads = by_mode["async"], by_mode["threads"]
        v = _verdict(aio, threads, "steady", poll)
        verdict |= 0 if v.met else 1
        print(
            f"{poll:>6g} {v.requests_per_second:>12.1f} {threads.steady.requests_per_second:>14.0f} "
            f"{aio.steady.cpu_per_poll * 1000:>14.3f} {threads.steady.cpu_per_poll * 1000:>16.3f} "
            f"{v.ratio:>13.2f}x {v.lag_p99 * 1000:>17.1f} {len(aio.gc_pauses):>15}  "
            f"{'met' if v.requests_ok else 'MISSED'}, {'met' if v.cpu_ok else 'MISSED'}, "
            f"{'met' if v.lag_ok else 'MISSED'}"
        )
    return verdict


def _parent(args: argparse.Namespace) -> int:
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    results: list[tuple[float, list[Run]]] = []
    with EmulatorProcess(ready_delay=3600) as emulator:
        for poll in args.polls:
            runs = []
            for mode in args.modes:
                print(
                    f"running {mode}: {args.waits} waits, {poll:g} s polls, in a fresh process ...",
                    flush=True,
                )
                runs.append(_run_child(mode, emulator, args, poll))
            results.append((poll, runs))
            if len(runs) == 2:
                _report(runs, args, poll)
            else:
                for run in runs:
                    print(_row(f"{run.mode} steady", run.steady), f"full GCs {len(run.gc_pauses)}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return _summary(results, args) if len(args.modes) == 2 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="200 waits over 2 deployments, 1 s polls, 5 s (a smoke run)"
    )
    parser.add_argument("--waits", type=int, default=None, help="concurrent waits (default 1000)")
    parser.add_argument(
        "--services", type=int, default=None, help="distinct services (default: one per wait)"
    )
    parser.add_argument(
        "--deployments", type=int, default=None, help="deployments the services are spread over (default 10)"
    )
    parser.add_argument(
        "--poll-interval",
        default=None,
        help="seconds between polls; a comma list runs each (default 1)",
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds before the end (default 10, at least 3 polls)"
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() after start-up in each measured process (shows what full collections cost)",
    )
    parser.add_argument(
        "--modes", default="async,threads", help="which ways to run (a report needs both; default both)"
    )
    # Internal: one mode's measured window in a child process.
    parser.add_argument("--child", choices=("async", "threads"), help=argparse.SUPPRESS)
    parser.add_argument("--emulator-url", help=argparse.SUPPRESS)
    parser.add_argument("--emulator-pid", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--service-ids", help=argparse.SUPPRESS)
    parser.add_argument("--poll", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.waits = args.waits or (200 if args.quick else 1000)
    args.services = args.services or args.waits
    args.deployments = args.deployments or (2 if args.quick else 10)
    if args.child:
        return _child(args)
    text = args.poll_interval or "1"
    args.polls = [float(item) for item in text.split(",") if item.strip()]
    args.modes = [mode for mode in args.modes.split(",") if mode in ("async", "threads")]
    return _parent(args)


if __name__ == "__main__":
    sys.exit(main())
