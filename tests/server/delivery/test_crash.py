"""SIGKILL the sending server mid-campaign and start it again: every recipient gets the campaign.

Exactly once, except where SMTP leaves no way to know: a message handed to the relay (DATA sent)
when the process died is marked in doubt and sent again with the same Message-ID. The test holds
the server to that: no recipient is missed, and only in-doubt messages (at most one per SMTP
connection) may arrive twice (docs/delivery.md, "Exactly once").
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from justmaily.server.audiences import repository
from justmaily.server.audiences.models import Contact
from justmaily.server.db.engine import Database
from justmaily.server.delivery.models import OutboxMessage
from justmaily.shared.roles import Role
from tests.plugins.live_server import Live
from tests.plugins.smtp import SmtpSink, start_sink

RECIPIENTS = 1500
CONNECTIONS = 4


class SlowSink(SmtpSink):
    """A relay that takes a few milliseconds per message, so the kill lands mid-campaign."""

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        await asyncio.sleep(0.003)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_sink() -> Iterator[SmtpSink]:
    sink = SlowSink()
    controller = start_sink(sink)
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def live_env(slow_sink: SmtpSink) -> dict[str, str]:
    return {
        "JUSTMAILY_SMTP_RELAYS": slow_sink.url,
        "JUSTMAILY_SMTP_CONNECTIONS": str(CONNECTIONS),
        "JUSTMAILY_SEND_RATE_PER_DOMAIN": "0",
    }


async def _prepare(live: Live) -> str:
    owner, editor = live.team[Role.OWNER], live.team[Role.EDITOR]
    assert (
        await live.call("POST", "/api/delivery/domains", owner, json={"domain": "acme.example"})
    ).status_code == 201
    job = (await live.call("POST", "/api/imports", editor, json={"consent_source": "crash test"})).json()
    csv = "email\n" + "".join(f"r{i:05d}@example.com\n" for i in range(RECIPIENTS))
    report = (await live.call("PUT", f"/api/imports/{job['id']}/file", editor, content=csv.encode())).json()
    assert report["contacts_created"] == RECIPIENTS, report
    campaign_id = await live.create_campaign(editor, subject="Crash", sender="Acme <news@acme.example>")
    for member, action in ((editor, "submit"), (live.team[Role.REVIEWER], "approve")):
        moved = await live.call(
            "POST", f"/api/campaigns/{campaign_id}/transitions", member, json={"action": action}
        )
        assert moved.status_code == 200, moved.text
    send = await live.call(
        "POST", f"/api/campaigns/{campaign_id}/sends", live.team[Role.ADMIN], json={"everyone": True}
    )
    assert send.status_code == 201, send.text
    return str(send.json()["id"])


async def _in_doubt(live: Live) -> set[str]:
    database = Database(live.settings)
    try:
        async with database.session(read_only=True) as session:
            rows = await session.execute(
                select(Contact.workspace_id, Contact.id)
                .join(OutboxMessage, OutboxMessage.contact_id == Contact.id)
                .where(OutboxMessage.in_doubt)
            )
            found: set[str] = set()
            for workspace_id, contact_id in rows.all():  # addresses are sealed: the repository opens them
                people = await repository.recipients(session, workspace_id, [contact_id])
                found.update(row.recipient.email for row in people.values())
            return found
    finally:
        await database.dispose()


async def test_a_killed_sender_resumes_and_misses_no_one(
    live: Live, slow_sink: SmtpSink, tmp_path: Path
) -> None:
    send_id = await _prepare(live)
    slow_sink.wait_for(RECIPIENTS // 3, timeout=60)
    live.server.stop(signal.SIGKILL)
    at_kill = len(slow_sink.received)
    assert at_kill < RECIPIENTS, "the campaign finished before the kill: make the sink slower"

    live.restart(tmp_path)
    deadline = time.monotonic() + 90
    while True:
        send = (await live.call("GET", f"/api/sends/{send_id}", live.team[Role.VIEWER])).json()
        if send["status"] == "done":
            break
        assert time.monotonic() < deadline, send
        await asyncio.sleep(0.2)

    arrivals = Counter(r.recipient for r in slow_sink.received)
    expected = {f"r{i:05d}@example.com" for i in range(RECIPIENTS)}
    assert set(arrivals) == expected  # no one missed
    twice = {address for address, count in arrivals.items() if count > 1}
    in_doubt = await _in_doubt(live)
    assert twice <= in_doubt  # only messages in the relay's hands at the kill can repeat
    assert len(in_doubt) <= CONNECTIONS
    assert max(arrivals.values()) <= 2
    for address in twice:  # a repeat is the same message: receivers can drop it by Message-ID
        ids = {r.message_id for r in slow_sink.received if r.recipient == address}
        assert len(ids) == 1
    assert send["counts"]["sent"] == RECIPIENTS
    assert send["counts"]["in_doubt"] == len(in_doubt)
