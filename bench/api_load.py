"""The REST API under a realistic mix, measured so that the numbers can be believed (issue 15).

`python3 bootstrap.py bench api-load [--backend sqlite|postgresql|both] [--tree PATH] ...`

A real `justmaily serve --demo` process (embedded SQLite; PostgreSQL too when
`JUSTMAILY_TEST_POSTGRES_URL` or `--postgres URL` names a cluster) and a bare Litestar app that
answers the same health JSON, each pinned to core 0 while the load generator runs on core 1
(`taskset`, when there are two cores). The workspace is seeded with `--campaigns` campaigns
(written straight into the database, spread over a year, some in review, some archived) and a
few made through the API (their documents are needed to edit content and to approve).

Three phases, each operation driven by its own `wrk` process (Debian's `wrk`, with
`bench/wrk/requests.lua`):

1. the mix: every operation at once, each connection a user that sends a request, waits for the
   answer, then thinks 0.5-1.5x 1/`--rate` s: p50/p99/max, errors, requests per second, and the
   server's CPU per request over the whole mix (from /proc/PID/stat);
2. each operation alone, unpaced: its ceiling in requests per second and the server's CPU per
   request;
3. `GET /health/live` unpaced against the server and against bare Litestar: the ratio says how
   much of the framework's floor the app's middleware costs.

"approve" is a review cycle on one connection per user: submit (editor), approve (reviewer),
reopen (editor): three writes, reported together.

Without `wrk` it says how to install it and falls back to a Python (httpx) generator in
processes of its own, which saturates before the server does and under-reports it several
times (docs/architecture.md). Results: bench/results/api-load-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from tests.support.server_process import free_port

from bench.procs import cpu_seconds
from bench.report import save
from justmaily.server.campaigns.models import Campaign
from justmaily.server.db.engine import async_url
from justmaily.server.identity.models import User, Workspace
from justmaily.shared.campaigns import CampaignStatus

LUA = Path(__file__).with_name("wrk") / "requests.lua"
ROOT = Path(__file__).resolve().parent.parent
WRK_INSTALL = "apt-get install wrk   (Debian's package; the benchmark pins it to its own core)"
WORDS = ("spring", "summer", "autumn", "winter", "launch", "sale", "digest", "welcome", "garden", "offer")


@dataclass(frozen=True)
class Operation:
    name: str
    users: int  # connections in the mix (one user each)
    sequence: bool = False  # its requests must go in order, one connection per wrk thread
    pace: float = 1.0  # times the per-user rate: people sign in far less often than they read


OPERATIONS = (
    Operation("sign-in", 1, pace=0.1),  # argon2 costs ~0.2 s of CPU by design
    Operation("list", 6),
    Operation("read", 6),
    Operation("search", 3),
    Operation("create", 2),
    Operation("update", 2),
    Operation("content", 2),
    Operation("approve", 2, sequence=True),
)


@dataclass
class Options:
    backends: tuple[str, ...] = ("sqlite",)
    tree: Path = ROOT  # the checkout whose server is measured (its .venv runs it)
    campaigns: int = 5000
    rate: float = 2.0  # requests per second per user in the mix
    users: float = 1.0  # multiplies every operation's users
    mix_seconds: float = 10.0
    alone_seconds: float = 3.0
    alone_connections: int = 8
    health_seconds: float = 3.0
    generator: str = "auto"  # wrk, python, or auto (wrk when installed)
    workers: int = 1  # the server's worker processes; with more than one, the server is not pinned
    postgres: str | None = None
    bare: bool = True


@dataclass
class Run:
    url: str
    pid: int
    workdir: Path
    editor: str
    reviewer: str
    password: str
    seeded: list[str]
    editable: list[str]
    reviewable: list[str]
    users: float = 1.0  # Options.users


# --- processes -------------------------------------------------------------------------------


def pinning() -> tuple[list[str], list[str]]:
    """taskset prefixes for the server (core 0) and the generator (core 1), when both exist."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", "0"], ["taskset", "-c", "1"]
    return [], []


@contextmanager
def process(
    command: list[str], env: dict[str, str], log: Path, ready: str
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603 - ours
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(ready, timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ready: {ready}\n{log.read_text()}")
            time.sleep(0.05)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def python_of(tree: Path) -> str:
    python = tree / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{tree} has no .venv: run `python3 bootstrap.py --list` there first")
    return str(python)


@contextmanager
def justmaily(options: Options, database_url: str, workdir: Path) -> Iterator[tuple[str, int]]:
    """The server's URL and process id."""
    port = free_port()
    env = {
        **os.environ,
        "JUSTMAILY_DATABASE_URL": database_url,
        "JUSTMAILY_DATA_DIR": str(workdir / "data"),
        "JUSTMAILY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "JUSTMAILY_RATE_LIMIT_PER_IP": "100000000/minute",
        "JUSTMAILY_RATE_LIMIT_PER_PRINCIPAL": "100000000/minute",
        "JUSTMAILY_LOG_LEVEL": "WARNING",
        "JUSTMAILY_AUTO_MIGRATE": "true",
    }
    server_pin = pinning()[0] if options.workers == 1 else []
    command = [*server_pin, python_of(options.tree), "-m", "justmaily.server.cli", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--demo"]
    # Pinned to one core, the server's default is one worker (and a checkout from before
    # workers has no such option): name the count only when it is more than one.
    command += ["--workers", str(options.workers)] if options.workers > 1 else []
    with process(command, env, workdir / "server.log", f"http://127.0.0.1:{port}/health/ready") as proc:
        yield f"http://127.0.0.1:{port}", proc.pid


@contextmanager
def bare_litestar(workdir: Path) -> Iterator[str]:
    port = free_port()
    server_pin, _ = pinning()
    command = [*server_pin, sys.executable, "-m", "bench.bare_litestar", str(port)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with process(command, env, workdir / "bare.log", f"http://127.0.0.1:{port}/health/live"):
        yield f"http://127.0.0.1:{port}"


# --- seeding ---------------------------------------------------------------------------------


async def seed_rows(database_url: str, count: int) -> list[str]:
    """`count` campaigns written straight into the demo workspace, newest a minute ago."""
    engine = create_async_engine(async_url(database_url))
    rng = random.Random(15)
    try:
        async with engine.begin() as connection:
            workspace = (
                await connection.execute(select(Workspace.id).where(Workspace.slug == "demo"))
            ).scalar_one()
            owner = (
                await connection.execute(select(User.id).where(User.email == "editor@demo.example.com"))
            ).scalar_one()
            now = datetime.now(UTC) - timedelta(minutes=1)
            rows = []
            for i in range(count):
                created = now - timedelta(seconds=rng.randrange(365 * 86400))
                status = rng.choice(
                    [CampaignStatus.DRAFT] * 6 + [CampaignStatus.IN_REVIEW, CampaignStatus.SENT]
                )
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "workspace_id": workspace,
                        "name": f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {i}",
                        "subject": f"Our {rng.choice(WORDS)} news, issue {i}",
                        "preheader": "",
                        "sender": "Demo Shop <news@demo.example.com>",
                        "status": status,
                        "owner_id": owner,
                        "revision": 1,
                        "archived_at": created if rng.random() < 0.1 else None,
                        "created_at": created,
                        "updated_at": created,
                    }
                )
            for start in range(0, count, 500):
                await connection.execute(insert(Campaign), rows[start : start + 500])
            if connection.dialect.name == "postgresql":
                await connection.execute(text("ANALYZE campaigns"))
            return [str(row["id"]) for row in rows if row["archived_at"] is None]
    finally:
        await engine.dispose()


def prepare(url: str, workdir: Path, database_url: str, options: Options, pid: int) -> Run:
    log = (workdir / "server.log").read_text()
    found = re.search(r"password (\S+):", log)
    if not found:
        raise RuntimeError(f"no demo password in the server's log:\n{log}")
    password = found.group(1)
    seeded = asyncio.run(seed_rows(database_url, options.campaigns))
    with httpx.Client(base_url=url, timeout=30) as client:

        def token(email: str) -> str:
            response = client.post("/api/auth/login", json={"email": email, "password": password})
            response.raise_for_status()
            return str(response.json()["access_token"])

        editor, reviewer = token("editor@demo.example.com"), token("reviewer@demo.example.com")

        def create(name: str) -> str:
            response = client.post(
                "/api/campaigns",
                json={"name": name, "subject": "Hello"},
                headers={"Authorization": f"Bearer {editor}"},
            )
            response.raise_for_status()
            return str(response.json()["id"])

        editable = [create(f"Edited {i}") for i in range(8)]
        # Each phase reviews campaigns of its own: a phase may end in the middle of a cycle.
        reviewers = sum(math.ceil(op.users * options.users) for op in OPERATIONS if op.sequence)
        reviewable = [create(f"Reviewed {i}") for i in range(reviewers + options.alone_connections)]
    return Run(url, pid, workdir, editor, reviewer, password, seeded, editable, reviewable, options.users)


# --- requests --------------------------------------------------------------------------------


def request_lines(run: Run, operation: str, thread: int, count: int, phase: str) -> list[str]:
    """The requests one generator thread cycles through, as requests.lua reads them."""
    rng = random.Random(f"{operation}/{thread}")
    editor, reviewer = f"Authorization: Bearer {run.editor}", f"Authorization: Bearer {run.reviewer}"

    def line(method: str, path: str, header: str = "", body: Any = None) -> str:
        return "\t".join([method, path, header, json.dumps(body) if body is not None else ""])

    if operation == "approve":  # one campaign per thread: submit, approve, reopen, in order
        reviewers = sum(math.ceil(op.users * run.users) for op in OPERATIONS if op.sequence)
        first = 0 if phase == "mix" else reviewers
        path = f"/api/campaigns/{run.reviewable[first + thread - 1]}/transitions"
        return [
            line("POST", path, editor, {"action": "submit"}),
            line("POST", path, reviewer, {"action": "approve"}),
            line("POST", path, editor, {"action": "reopen"}),
        ]
    lines = []
    for i in range(count):
        if operation == "sign-in":
            body = {"email": "viewer@demo.example.com", "password": run.password}
            lines.append(line("POST", "/api/auth/login", "", body))
        elif operation == "list":
            lines.append(line("GET", "/api/campaigns?limit=50", editor))
        elif operation == "read":
            lines.append(line("GET", f"/api/campaigns/{rng.choice(run.seeded)}", editor))
        elif operation == "search":
            lines.append(
                line("GET", f"/api/campaigns?limit=50&q={rng.choice(WORDS)}%20{rng.randrange(10)}", editor)
            )
        elif operation == "create":
            lines.append(
                line("POST", "/api/campaigns", editor, {"name": f"Load {thread}-{i}", "subject": "Hi"})
            )
        elif operation == "update":
            body = {"subject": f"Subject {thread}-{i}"}
            lines.append(line("PATCH", f"/api/campaigns/{rng.choice(run.editable)}", editor, body))
        elif operation == "content":
            body = {"body": f"# News {i}\n\nThread {thread}, edit {i}."}
            lines.append(line("PATCH", f"/api/campaigns/{rng.choice(run.editable)}/content", editor, body))
        else:
            raise ValueError(operation)
    return lines


def write_lines(run: Run, operation: str, threads: int, phase: str) -> Path:
    prefix = run.workdir / f"{phase}-{operation}"
    for thread in range(1, threads + 1):
        Path(f"{prefix}.{thread}").write_text(
            "\n".join(request_lines(run, operation, thread, 500, phase)) + "\n"
        )
    return prefix


# --- generators ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drive:
    operation: str
    url: str
    prefix: Path
    threads: int
    connections: int
    seconds: float
    think_ms: float


def wrk_command(drive: Drive) -> list[str]:
    _, generator_pin = pinning()
    return [
        *generator_pin,
        "wrk",
        f"-t{drive.threads}",
        f"-c{drive.connections}",
        f"-d{max(1, round(drive.seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        drive.url,
        "--",
        str(drive.prefix),
        str(drive.think_ms),
    ]


def parse_wrk(operation: str, output: str) -> dict[str, Any]:
    found = re.search(r"^WRK_RESULT (\{.*\})$", output, re.MULTILINE)
    if not found:
        raise RuntimeError(f"{operation}: wrk printed no result:\n{output}")
    raw = json.loads(found.group(1))
    seconds = raw["duration_us"] / 1e6
    return figures(
        operation,
        raw["requests"],
        seconds,
        raw["p50_us"] / 1000,
        raw["p99_us"] / 1000,
        raw["max_us"] / 1000,
        sum(raw[k] for k in ("connect", "read", "write", "status", "timeout")),
    )


def figures(
    operation: str, requests: int, seconds: float, p50: float, p99: float, top: float, errors: int
) -> dict[str, Any]:
    return {
        "operation": operation,
        "requests": requests,
        "errors": errors,
        "req/s": round(requests / seconds, 1) if seconds else 0.0,
        "p50 ms": round(p50, 2),
        "p99 ms": round(p99, 2),
        "max ms": round(top, 2),
    }


def drive_all(drives: Sequence[Drive], generator: str) -> list[dict[str, Any]]:
    """Run the drives at once, each in its own process; wait for all."""
    if generator == "wrk":
        procs = [
            (d, subprocess.Popen(wrk_command(d), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))  # noqa: S603
            for d in drives
        ]
        results = []
        for d, proc in procs:
            out, _ = proc.communicate(timeout=d.seconds + 60)
            results.append(parse_wrk(d.operation, out))
        return results
    context = multiprocessing.get_context("spawn")
    with context.Pool(len(drives)) as pool:
        return pool.map(python_drive, drives)


def python_drive(drive: Drive) -> dict[str, Any]:
    """The fallback generator: one asyncio loop with httpx per operation, in its own process."""
    per_thread = {
        thread: Path(f"{drive.prefix}.{thread}").read_text().splitlines()
        for thread in range(1, drive.threads + 1)
    }
    return asyncio.run(_python_drive(drive, per_thread))


async def _python_drive(drive: Drive, per_thread: dict[int, list[str]]) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + drive.seconds
    rng = random.Random(drive.operation)

    async def user(client: httpx.AsyncClient, lines: list[str]) -> None:
        nonlocal errors
        at = 0
        while time.monotonic() < deadline:
            method, path, header, body = lines[at % len(lines)].split("\t")
            at += 1
            headers = dict([header.split(": ", 1)]) if header else {}
            started = time.perf_counter()
            try:
                response = await client.request(method, path, headers=headers, content=body or None)
                if response.status_code >= 400:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - started)
            if drive.think_ms:
                await asyncio.sleep(drive.think_ms * (0.5 + rng.random()) / 1000)

    began = time.monotonic()
    async with (
        httpx.AsyncClient(
            base_url=drive.url, timeout=10, headers={"Content-Type": "application/json"}
        ) as client,
        asyncio.TaskGroup() as group,
    ):
        for c in range(drive.connections):
            group.create_task(user(client, per_thread[c % drive.threads + 1]))
    elapsed = time.monotonic() - began
    if not latencies:
        return figures(drive.operation, 0, elapsed, 0, 0, 0, errors)
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return figures(
        drive.operation,
        len(ordered),
        elapsed,
        statistics.median(ordered) * 1000,
        p99 * 1000,
        ordered[-1] * 1000,
        errors,
    )


# --- phases ----------------------------------------------------------------------------------


def measured(run: Run, drives: Sequence[Drive], generator: str) -> tuple[list[dict[str, Any]], float]:
    """The drives' figures, and the server's CPU ms per request over them all."""
    before = cpu_seconds(run.pid)
    rows = drive_all(drives, generator)
    spent = cpu_seconds(run.pid) - before
    total = sum(row["requests"] for row in rows)
    return rows, round(spent * 1000 / total, 3) if total else 0.0


def mix_phase(run: Run, options: Options, generator: str) -> tuple[list[dict[str, Any]], float]:
    drives = []
    for op in OPERATIONS:
        users = math.ceil(op.users * options.users)
        prefix = write_lines(run, op.name, users, "mix")
        think_ms = 1000 / (options.rate * op.pace)
        drives.append(Drive(op.name, run.url, prefix, users, users, options.mix_seconds, think_ms))
    return measured(run, drives, generator)


def alone_phase(run: Run, options: Options, generator: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if options.alone_seconds <= 0:  # skipped
        return rows
    for op in OPERATIONS:
        connections = options.alone_connections
        threads = connections if op.sequence else 2
        prefix = write_lines(run, op.name, threads, "alone")
        drive = Drive(op.name, run.url, prefix, threads, connections, options.alone_seconds, 0)
        (row,), cpu = measured(run, [drive], generator)
        rows.append({**row, "server CPU ms/req": cpu})
    return rows


def health_drive(url: str, workdir: Path, seconds: float) -> Drive:
    prefix = workdir / "health"
    for thread in (1, 2):
        Path(f"{prefix}.{thread}").write_text("GET\t/health/live\t\t\n")
    return Drive("health", url, prefix, 2, 32, seconds, 0)


def health_phase(run: Run, options: Options, generator: str) -> dict[str, Any]:
    ours, cpu = measured(run, [health_drive(run.url, run.workdir, options.health_seconds)], generator)
    figures_ = {
        "justmaily req/s": ours[0]["req/s"],
        "justmaily p50 ms": ours[0]["p50 ms"],
        "errors": ours[0]["errors"],
    }
    figures_["justmaily CPU ms/req"] = cpu
    if options.bare:
        with bare_litestar(run.workdir) as bare_url:
            served = httpx.get(f"{run.url}/health/live").content
            if httpx.get(f"{bare_url}/health/live").content != served:
                raise RuntimeError(f"bare Litestar answers differently from {served!r}")
            (bare,) = drive_all([health_drive(bare_url, run.workdir, options.health_seconds)], generator)
        figures_ |= {
            "bare req/s": bare["req/s"],
            "bare p50 ms": bare["p50 ms"],
            "justmaily/bare req/s": round(ours[0]["req/s"] / bare["req/s"], 3) if bare["req/s"] else 0.0,
        }
        figures_["errors"] += bare["errors"]
    return figures_


# --- runs ------------------------------------------------------------------------------------


@contextmanager
def database(backend: str, options: Options, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    if not options.postgres:
        raise SystemExit("PostgreSQL: set JUSTMAILY_TEST_POSTGRES_URL or pass --postgres URL")
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin_url = async_url(options.postgres)

    async def run(statement: str) -> None:  # an engine per call: each asyncio.run is a new loop
        admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            async with admin.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await admin.dispose()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(options.postgres).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run_once(backend: str, options: Options, generator: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="justmaily-load-") as tmp:
        workdir = Path(tmp)
        with database(backend, options, workdir) as url, justmaily(options, url, workdir) as (server, pid):
            run = prepare(server, workdir, url, options, pid)
            mix, mix_cpu = mix_phase(run, options, generator)
            alone = alone_phase(run, options, generator)
            health = health_phase(run, options, generator)
    return {"mix": mix, "mix server CPU ms/req": mix_cpu, "alone": alone, "health": health}


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over repeated runs (the rows keep their operation names)."""

    def med(values: list[Any]) -> Any:
        return round(statistics.median(values), 3) if isinstance(values[0], int | float) else values[0]

    def rows(key: str) -> list[dict[str, Any]]:
        return [
            {k: med([run[key][i][k] for run in runs]) for k in runs[0][key][i]}
            for i in range(len(runs[0][key]))
        ]

    return {
        "mix": rows("mix"),
        "mix server CPU ms/req": med([run["mix server CPU ms/req"] for run in runs]),
        "alone": rows("alone"),
        "health": {k: med([run["health"][k] for run in runs]) for k in runs[0]["health"]},
    }


def table(label: str, result: dict[str, Any]) -> str:
    lines = [f"{label}: the mix (paced users), and each operation alone (unpaced)"]
    head = f"{'operation':<9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6} {'req/s':>7}"
    lines.append(f"{head} | {'alone req/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'CPU ms/req':>10}")
    alones = result["alone"] or [dict.fromkeys(result["mix"][0] | {"server CPU ms/req": 0}, "-")] * len(
        result["mix"]
    )
    for mixed, alone in zip(result["mix"], alones, strict=True):
        lines.append(
            f"{mixed['operation']:<9} {mixed['p50 ms']:>8} {mixed['p99 ms']:>8} {mixed['max ms']:>8} "
            f"{mixed['errors']:>6} {mixed['req/s']:>7} | {alone['req/s']:>11} {alone['p50 ms']:>8} "
            f"{alone['p99 ms']:>8} {alone['errors']:>6} {alone['server CPU ms/req']:>10}"
        )
    lines.append(f"server CPU per request over the mix: {result['mix server CPU ms/req']} ms")
    health = result["health"]
    lines.append("GET /health/live unpaced: " + ", ".join(f"{k} {v}" for k, v in health.items()))
    return "\n".join(lines)


def generator_of(choice: str) -> str:
    if choice in ("auto", "wrk") and shutil.which("wrk"):
        return "wrk"
    if choice == "wrk":
        raise SystemExit(f"wrk is not installed: {WRK_INSTALL}")
    if choice == "auto":
        print(
            f"wrk is not installed ({WRK_INSTALL}); falling back to a Python generator, which",
            file=sys.stderr,
        )
        print("saturates before the server does: it UNDER-REPORTS the server's throughput.", file=sys.stderr)
    return "python"


def run(options: Options, trees: dict[str, Path], repeat: int) -> dict[str, Any]:
    """Every (backend, tree) `repeat` times, interleaved (a, b, a, b, ...), and their medians."""
    generator = generator_of(options.generator)
    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(repeat):
        for backend in options.backends:
            for label, tree in trees.items():
                options.tree = tree
                runs.setdefault(f"{backend}/{label}", []).append(run_once(backend, options, generator))
    return {
        "generator": generator,
        "pinned": bool(pinning()[0]),
        "repeat": repeat,
        "results": {key: median_of(values) for key, values in runs.items()},
        "runs": runs,
    }


def parse(argv: Sequence[str]) -> tuple[Options, dict[str, Path], int]:
    parser = argparse.ArgumentParser(prog="bench api-load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--postgres", default=os.environ.get("JUSTMAILY_TEST_POSTGRES_URL"))
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="a checkout to measure (its .venv runs its server); repeat to compare: before=... after=...",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, interleaved; medians reported")
    parser.add_argument("--campaigns", type=int, default=Options.campaigns)
    parser.add_argument("--rate", type=float, default=Options.rate, help="requests per second per user")
    parser.add_argument(
        "--users", type=float, default=Options.users, help="multiplies each operation's users"
    )
    parser.add_argument("--mix-seconds", type=float, default=Options.mix_seconds)
    parser.add_argument("--alone-seconds", type=float, default=Options.alone_seconds)
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--workers", type=int, default=Options.workers, help="server processes (more than one: not pinned)"
    )
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    trees = dict(t.split("=", 1) for t in args.tree) if args.tree else {"this": str(ROOT)}
    options = Options(
        backends=backends,
        campaigns=args.campaigns,
        rate=args.rate,
        users=args.users,
        mix_seconds=args.mix_seconds,
        alone_seconds=args.alone_seconds,
        generator=args.generator,
        postgres=args.postgres,
        workers=args.workers,
    )
    return options, {label: Path(path).resolve() for label, path in trees.items()}, args.repeat


def main(argv: Sequence[str] = ()) -> int:
    options, trees, repeat = parse(argv)
    results = run(options, trees, repeat)
    print(
        f"generator {results['generator']}, server and generator pinned to cores 0 and 1: "
        f"{results['pinned']}; "
        f"{options.campaigns} campaigns; mix at {options.rate} req/s per user; medians of {repeat}"
    )
    for key, result in results["results"].items():
        print(table(key, result))
    save(
        "api-load",
        {
            "options": {**vars(options), "tree": None},
            "trees": {k: str(v) for k, v in trees.items()},
            **results,
        },
    )
    return 0
