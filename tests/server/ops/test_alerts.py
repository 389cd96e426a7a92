"""The server's own alerts: an objective burning its budget reaches the owners by e-mail and the
webhook once, however many processes judge it, and once more when it is resolved."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from justmaily.server.ops.alerts import Alerter
from justmaily.server.ops.models import SliMinute
from justmaily.server.services import services_of
from justmaily.server.settings import Settings
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.plugins.smtp import SmtpSink
from tests.support.server_process import free_port


class Hooks:
    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []


@pytest.fixture
def webhook() -> Iterator[tuple[str, Hooks]]:
    hooks = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hooks.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/alerts", hooks
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, smtp_sink: SmtpSink, webhook: tuple[str, Hooks]) -> Settings:
    return Settings.of(
        database_url=database_url,
        data_dir=str(tmp_path / "data"),
        smtp_relays=smtp_sink.url,
        alert_webhook_url=webhook[0],
        alert_from="alerts@acme.example.com",
    )


async def test_a_burning_objective_is_told_once_and_its_end_too(
    app: Litestar, client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink, webhook: tuple[str, Hooks]
) -> None:
    services = services_of(app)
    now = time.time()
    minute = int(now // 60) * 60
    async with services.database.session() as session, session.begin():
        for back in range(15):  # a quarter of an hour of nothing but server errors
            session.add(SliMinute(slo="availability", minute=minute - 60 * back, good=0, total=100))
    # Two processes judge at once: one tells.
    first, second = (
        Alerter(services.database, services.settings, services.slos),
        Alerter(services.database, services.settings, services.slos),
    )
    told = await first.evaluate(now) + await second.evaluate(now)
    assert {(n.slo, n.severity, n.state) for n in told} == {
        ("availability", "page", "firing"),
        ("availability", "ticket", "firing"),
    }
    assert await first.evaluate(now + 30) == []  # still firing: nothing new
    mails = smtp_sink.wait_for(4)  # two alerts, to the two owners of the seeded workspaces
    assert {m.recipient for m in mails} == {team[Role.OWNER].email, team.rival.email}
    subjects = {m.message["Subject"] for m in mails}
    assert subjects == {"[JustMaily page] availability: firing", "[JustMaily ticket] availability: firing"}
    assert "api/ops/slo" in mails[0].message.get_content()
    assert sorted((h["severity"], h["state"]) for h in webhook[1].received) == [
        ("page", "firing"),
        ("ticket", "firing"),
    ]
    # A month later the bad minutes are out of every window: resolved, told once.
    later = now + 40 * 86400
    resolved = await second.evaluate(later) + await first.evaluate(later)
    assert {(n.severity, n.state) for n in resolved} == {("page", "resolved"), ("ticket", "resolved")}
    assert len(webhook[1].received) == 4
