"""A real `justmaily serve` process on a free loopback port (tests and benchmarks)."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from justmaily.server.settings import Settings

_START_TIMEOUT_SECONDS = 60.0  # a loaded 2-core machine can take half a minute to start one


def free_port() -> int:
    """A loopback port nobody listens on. Under pytest-xdist each test process draws from its
    own range below the kernel's ephemeral ports: two processes asking the kernel for a free
    port at once can both be given the same one, and a server that then fails to bind it would
    pass for ready while the other test's server answers."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])
    low = 20_000 + (int(worker[2:]) % 6) * 2_000
    for port in random.sample(range(low, low + 2_000), 2_000):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{low + 1_999}")


class ServerProcess:
    def __init__(
        self, env: dict[str, str], log_path: Path, args: tuple[str, ...] = (), port: int | None = None
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.args = args
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        command = [
            sys.executable,
            "-m",
            "justmaily.server.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.args,
        ]
        # Links and room tickets point to the public URL: this server's own, unless given. The
        # log's origin (else derived from it) stays one name for all the servers of a test
        # (replicas, a restart on another port), as for the servers of one installation.
        env = {
            "JUSTMAILY_PUBLIC_URL": self.url,
            "JUSTMAILY_LOG_ORIGIN": Settings().effective_log_origin,
            **self.env,
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            self.wait_ready()
        except BaseException:
            self.stop()  # never leave a server running that nobody will stop
            raise
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"server not ready after {_START_TIMEOUT_SECONDS} s:\n{self.log()}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def records(self) -> list[dict[str, Any]]:
        """The server's structured (JSON) log lines, parsed; other output left out."""
        return [json.loads(line) for line in self.log().splitlines() if line.startswith("{")]


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("JUSTMAILY_")}
    env.update(JUSTMAILY_DATABASE_URL=settings.effective_database_url, JUSTMAILY_DATA_DIR=settings.data_dir)
    # One process unless a test asks for workers (tests/server/test_workers.py): the default,
    # one per core, would double every server's start-up across the suite.
    env.update(JUSTMAILY_WORKERS="1")
    env.update(extra)
    return env
