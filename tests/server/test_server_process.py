"""A real `justmaily serve` process on loopback, on both backends."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from justmaily.server.settings import Settings
from justmaily.server.workers.supervisor import default_workers
from tests.support.server_process import ServerProcess, free_port, server_env


def login(base: str, email: str, password: str) -> str:
    response = httpx.post(f"{base}/api/auth/login", json={"email": email, "password": password}, timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_demo_server_serves_the_seeded_workspace_and_logs_json(settings: Settings, tmp_path: Path) -> None:
    server = ServerProcess(server_env(settings), tmp_path / "server.log", args=("--demo",)).start()
    try:
        banner = server.log()
        assert f"serving at {server.url}" in banner
        password = re.search(r"password (\S+):", banner)
        assert password, banner
        token = login(server.url, "editor@demo.example.com", password.group(1))
        headers = {"Authorization": f"Bearer {token}"}
        listed = httpx.get(f"{server.url}/api/campaigns", headers=headers, timeout=10)
        assert listed.status_code == 200
        assert {c["name"] for c in listed.json()["items"]} >= {"Spring sale", "Welcome series #1"}
        spring = next(c for c in listed.json()["items"] if c["name"] == "Spring sale")
        content = httpx.get(f"{server.url}/api/campaigns/{spring['id']}/content", headers=headers, timeout=10)
        # The sample content is in the document that editors open, not only in the campaign row.
        assert content.json()["subject"] == spring["subject"] == "Spring is here: 20% off everything"
        assert content.json()["body"].startswith("# Spring is here")
        created = httpx.post(
            f"{server.url}/api/campaigns", json={"name": "From the test"}, headers=headers, timeout=10
        )
        assert created.status_code == 201
        # uvicorn picked uvloop for the event loop (the sender's limit: docs/delivery.md)
        assert server.process is not None
        loaded = Path(f"/proc/{server.process.pid}/maps").read_text()
        assert "/uvloop/loop." in loaded
    finally:
        # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells why.
        assert server.stop() in (0, -signal.SIGTERM)
    log = server.log()
    assert "Application shutdown complete." in log
    records = server.records()
    access = [r for r in records if r.get("logger") == "justmaily.access"]
    assert any(r["request_id"] == created.headers["x-request-id"] and r["status"] == 201 for r in access)
    assert all({"timestamp", "level", "event"} <= set(r) for r in records)
    assert token not in log, "tokens are never logged"


def test_acknowledged_writes_survive_a_crash(settings: Settings, tmp_path: Path) -> None:
    env = server_env(settings)
    server = ServerProcess(env, tmp_path / "server.log", args=("--demo",)).start()
    password = re.search(r"password (\S+):", server.log())
    assert password
    token = login(server.url, "editor@demo.example.com", password.group(1))
    headers = {"Authorization": f"Bearer {token}"}
    created = httpx.post(
        f"{server.url}/api/campaigns", json={"name": "Survivor"}, headers=headers, timeout=10
    )
    assert created.status_code == 201
    server.stop(signal.SIGKILL)

    restarted = ServerProcess(env, tmp_path / "server2.log").start()
    try:
        # The signing key lives in the data directory, so the old token is still good.
        read = httpx.get(f"{restarted.url}/api/campaigns/{created.json()['id']}", headers=headers, timeout=10)
        assert read.status_code == 200
        assert read.json()["name"] == "Survivor"
    finally:
        restarted.stop()


def test_bad_input_over_the_wire_leaves_the_server_serving(server_process: ServerProcess) -> None:
    base = server_process.url
    malformed = httpx.post(
        f"{base}/api/auth/login",
        content=b'{"email": ',
        timeout=10,
        headers={"content-type": "application/json"},
    )
    assert malformed.status_code == 400
    assert malformed.headers["content-type"].startswith("application/problem+json")
    huge = httpx.post(
        f"{base}/api/auth/login",
        content=b"x" * (2 * 1024 * 1024),
        timeout=10,
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
    assert httpx.get(f"{base}/api/../../etc/passwd", timeout=10).status_code == 404
    assert httpx.get(f"{base}/health/ready", timeout=10).status_code == 200


@pytest.mark.backends("sqlite")  # the limits are in memory: the database plays no part
def test_per_ip_limits_believe_forwarded_addresses_only_from_trusted_proxies(
    settings: Settings, tmp_path: Path
) -> None:
    def statuses(server: ServerProcess, forwarded_for: list[str]) -> list[int]:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            return [
                client.get("/health/live", headers={"X-Forwarded-For": address}).status_code
                for address in forwarded_for
            ]

    spoofed = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"]
    # Default: no proxy is trusted, so every request counts against this client's own address.
    env = server_env(settings, JUSTMAILY_RATE_LIMIT_PER_IP="3/minute")
    server = ServerProcess(env, tmp_path / "direct.log").start()
    try:
        # (the start-up's readiness probe spent one of the three)
        assert statuses(server, spoofed) == [200, 200, 429, 429]
    finally:
        server.stop()
    # Behind a proxy on loopback that the operator names, the address it forwards counts.
    env = server_env(settings, JUSTMAILY_RATE_LIMIT_PER_IP="3/minute", JUSTMAILY_TRUSTED_PROXIES="127.0.0.1")
    server = ServerProcess(env, tmp_path / "proxied.log").start()
    try:
        assert statuses(server, spoofed) == [200, 200, 200, 200]
        assert statuses(server, ["198.51.100.9"] * 4) == [200, 200, 200, 429]
    finally:
        server.stop()


class Console:
    """A process's output, line by line, as a person watching the terminal sees it."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            assert line is not None, f"exited before printing {text!r}:\n" + "\n".join(self.lines)
            self.lines.append(line)
            if text in line:
                return line

    def stop(self) -> None:
        """Ctrl-C, as a person stops it."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self._reader.join(timeout=5)
        assert self.process.stdout is not None
        self.process.stdout.close()


def _start(command: list[str], env: dict[str, str], cwd: Path | None = None) -> Console:
    process = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return Console(process)


@pytest.mark.backends("sqlite")
def test_demo_says_where_it_serves_once_it_answers_and_its_links_follow_the_port(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    command = [sys.executable, "-m", "justmaily.server.cli", "serve", "--demo", "--port", str(port)]
    env = server_env(settings)
    del env["JUSTMAILY_WORKERS"]  # the default: one worker per core
    console = _start(command, env)
    try:
        serving = console.wait_for("serving at")
        # The line is the signal to connect: the server answers at once, no retry needed.
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/health/live", timeout=5).status_code == 200
        assert serving.startswith(f"JustMaily is serving at {base}  (API: {base}/api")
        workers = default_workers()
        assert serving.endswith(f"  [{workers} workers]" if workers > 1 else "openapi.json)")
        printed = "\n".join(console.lines)
        password = re.search(r"password (\S+):", printed)
        assert password, printed
        kept = Path(settings.data_dir) / "demo-password"
        assert f"The password is kept in {kept};" in printed
        assert kept.read_text().strip() == password.group(1)
        assert f"links in sent messages point to {base}." in printed

        headers = {"Authorization": f"Bearer {login(base, 'editor@demo.example.com', password.group(1))}"}
        campaigns = httpx.get(f"{base}/api/campaigns", headers=headers, timeout=10).json()["items"]
        spring = next(c["id"] for c in campaigns if c["name"] == "Spring sale")
        contact = httpx.get(f"{base}/api/contacts", headers=headers, timeout=10).json()["items"][0]["id"]
        preview = httpx.post(
            f"{base}/api/campaigns/{spring}/preview",
            json={"contact_id": contact},
            headers=headers,
            timeout=10,
        )
        assert f"Unsubscribe: {base}/preview/unsubscribe" in preview.json()["text"]
        key = httpx.get(f"{base}/api/transparency/key", headers=headers, timeout=10).json()
        assert key["origin"] == f"127.0.0.1:{port}/transparency"
    finally:
        console.stop()


def test_the_demo_recipe_takes_host_and_port_flags(tmp_path: Path) -> None:
    """`python3 bootstrap.py demo --host ::1 --port N`, as the README says."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("JUSTMAILY_")}
    env["JUSTMAILY_DATA_DIR"] = str(tmp_path / "demo")
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "bootstrap.py", "demo", "--host", "::1", "--port", str(port)]
    console = _start(command, env, cwd=root)
    try:
        base = f"http://[::1]:{port}"
        assert console.wait_for("serving at", timeout=90).startswith(f"JustMaily is serving at {base} ")
        assert httpx.get(f"{base}/health/live", timeout=5).status_code == 200
        assert f"links in sent messages point to {base}." in "\n".join(console.lines)
    finally:
        console.stop()
