"""Sending throughput: messages per second into a local SMTP sink, DKIM signing on, and memory.

One server process (embedded SQLite) sends a campaign to N imported contacts through an
aiosmtpd sink in a second process, both on loopback and on this machine's two cores. Every
message is personalised, rendered, signed twice (RSA-2048 and Ed25519) and goes through the
outbox. Sizes: BENCH_RECIPIENTS (comma-separated, default "10000,100000"), each in a fresh server.

BENCH_SINKS (comma-separated, default "aiosmtpd") picks the sinks, each measured in turn:
"aiosmtpd" (a complete server) and "lean" (bench/smtp_sink.py, a minimal asyncio SMTP server that
takes less of the CPU the sender needs). Each run also reports the CPU time the server and the sink
spent per message while sending: on a shared machine that is steadier than the rate.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from tests.support.server_process import ServerProcess, free_port, server_env

from bench.procs import cpu_seconds, peak_rss_kib, rss_kib
from bench.report import save
from justmaily.server.settings import Settings

SIZES = [int(n) for n in os.environ.get("BENCH_RECIPIENTS", "10000,100000").split(",")]
CONNECTIONS = int(os.environ.get("BENCH_SMTP_CONNECTIONS", "16"))  # the server default
SINKS = os.environ.get("BENCH_SINKS", "aiosmtpd").split(",")
BODY = (
    "# Hello {{ first_name }}\n\nOur spring sale starts today: {{ plan | default('every plan') }} "
    "customers get 20% off.\n\n- New garden tools\n- Outdoor furniture\n- Seeds and bulbs\n\n"
    "[Shop the sale](https://demo.example.com/sale) or [read the blog](https://demo.example.com/blog)\n"
)
SINK = """
import asyncio, sys
from aiosmtpd.controller import Controller
class Count:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        Count.count += len(envelope.rcpt_tos)
        return "250 OK"
controller = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
sys.stdin.read()
controller.stop()
"""


def sink_command(sink: str, port: int) -> list[str]:
    if sink == "aiosmtpd":
        return [sys.executable, "-c", SINK, str(port)]
    if sink == "lean":
        return [sys.executable, "-m", "bench.smtp_sink", str(port)]
    raise ValueError(f"unknown sink {sink!r}: aiosmtpd or lean")


async def run_size(workdir: Path, recipients: int, sink_url: str, sink_pid: int) -> dict[str, Any]:
    settings = Settings.of(
        database_url=f"sqlite:///{workdir / 'delivery.db'}", data_dir=str(workdir / "data")
    )
    env = server_env(
        settings,
        JUSTMAILY_SMTP_RELAYS=sink_url,
        JUSTMAILY_SMTP_CONNECTIONS=str(CONNECTIONS),
        JUSTMAILY_SEND_RATE_PER_DOMAIN="0",
        JUSTMAILY_LOG_LEVEL="WARNING",
        JUSTMAILY_RATE_LIMIT_PER_IP="10000000/minute",
        JUSTMAILY_RATE_LIMIT_PER_PRINCIPAL="10000000/minute",
        JUSTMAILY_MAX_REQUEST_BYTES="200000000",
    )
    server = ServerProcess(env, workdir / "server.log", args=("--demo",)).start()
    assert server.process is not None
    pid = server.process.pid
    password = (Path(settings.data_dir) / "demo-password").read_text().strip()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=600) as client:
            login = await client.post(
                "/api/auth/login", json={"email": "owner@demo.example.com", "password": password}
            )
            client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            await client.post("/api/delivery/domains", json={"domain": "demo.example.com"})
            job = (await client.post("/api/imports", json={"consent_source": "benchmark"})).json()
            csv = "email,name,plan\n" + "".join(
                f"person{i}@mail{i % 50}.example,Person {i},{'pro' if i % 3 else 'free'}\n"
                for i in range(recipients)
            )
            started = time.perf_counter()
            report = (await client.put(f"/api/imports/{job['id']}/file", content=csv.encode())).json()
            import_seconds = time.perf_counter() - started
            assert report["contacts_created"] == recipients, report
            campaign = (
                await client.post(
                    "/api/campaigns",
                    json={
                        "name": "Bench",
                        "subject": "Spring for {{ first_name }}",
                        "sender": "Demo <news@demo.example.com>",
                    },
                )
            ).json()
            await client.patch(f"/api/campaigns/{campaign['id']}/content", json={"body": BODY})
            for action in ("submit", "approve"):
                await client.post(f"/api/campaigns/{campaign['id']}/transitions", json={"action": action})
            rss_before = rss_kib(pid)
            cpu_before = cpu_seconds(pid), cpu_seconds(sink_pid)
            send = (
                await client.post(f"/api/campaigns/{campaign['id']}/sends", json={"everyone": True})
            ).json()
            rss_samples = []
            while True:
                view = (await client.get(f"/api/sends/{send['id']}")).json()
                rss_samples.append(rss_kib(pid))
                if view["status"] == "done":
                    cpu_after = cpu_seconds(pid), cpu_seconds(sink_pid)
                    break
                if view["status"] not in ("scheduled", "sending"):
                    raise RuntimeError(f"send stopped: {view}")
                await asyncio.sleep(0.5)
    finally:
        peak = peak_rss_kib(pid)
        server.stop()
    from datetime import datetime

    created = datetime.fromisoformat(view["created_at"])
    began = datetime.fromisoformat(view["started_at"])
    finished = datetime.fromisoformat(view["finished_at"])
    sending = (finished - began).total_seconds()
    return {
        "recipients": recipients,
        "sent": view["counts"]["sent"],
        "import_seconds": round(import_seconds, 2),
        "import_rows_per_second": round(recipients / import_seconds),
        "queueing_seconds": round((began - created).total_seconds(), 2),
        "sending_seconds": round(sending, 2),
        "messages_per_second": round(view["counts"]["sent"] / sending),  # the demo list is in "everyone" too
        # From the send request to "done" (so queueing too, and up to one 0.5 s poll of idling).
        "server_cpu_ms_per_message": round(1000 * (cpu_after[0] - cpu_before[0]) / view["counts"]["sent"], 3),
        "sink_cpu_ms_per_message": round(1000 * (cpu_after[1] - cpu_before[1]) / view["counts"]["sent"], 3),
        "rss_before_send_mib": round(rss_before / 1024, 1),
        "rss_max_during_send_mib": round(max(rss_samples) / 1024, 1),
        "peak_rss_mib": round(peak / 1024, 1),
    }


def main() -> int:
    results: dict[str, Any] = {"smtp_connections": CONNECTIONS, "runs": []}
    for sink_name in SINKS:
        port = free_port()
        sink = subprocess.Popen(sink_command(sink_name, port), stdin=subprocess.PIPE)  # noqa: S603
        try:
            time.sleep(1.0)
            for size in SIZES:
                with tempfile.TemporaryDirectory(prefix="justmaily-bench-delivery-") as tmp:
                    run = asyncio.run(run_size(Path(tmp), size, f"smtp://127.0.0.1:{port}", sink.pid))
                run = {"sink": sink_name, **run}
                print(json.dumps(run))
                results["runs"].append(run)
        finally:
            assert sink.stdin is not None
            sink.stdin.close()
            sink.wait(timeout=10)
    print(json.dumps(results, indent=2))
    save("delivery", results)
    return 0
