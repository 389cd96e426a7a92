"""A real `justmaily serve` process on loopback, on both backends."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import httpx
import pytest

from justmaily.server.settings import Settings
from tests.support.server_process import ServerProcess, server_env


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
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
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
