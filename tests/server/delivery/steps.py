"""Steps the delivery tests share: set up sending, approve a campaign, wait for a send."""

from __future__ import annotations

import time
from typing import Any

import anyio
import dkim
import httpx

from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.plugins.smtp import Received, SmtpSink

SENDER = "Acme News <news@acme.example>"


async def set_up_sending(client: httpx.AsyncClient, team: Team, *relays: str) -> dict[bytes, bytes]:
    """A sending domain and relays; returns the DNS TXT records a verifier would look up."""
    owner = team[Role.OWNER].headers
    domain = await client.post("/api/delivery/domains", json={"domain": "acme.example"}, headers=owner)
    assert domain.status_code == 201, domain.text
    for index, url in enumerate(relays):
        relay = {"name": f"relay-{index}", "url": url, "priority": index}
        created = await client.post("/api/delivery/relays", json=relay, headers=owner)
        assert created.status_code == 201, created.text
    return {f"{r['name']}.".encode(): r["value"].encode() for r in domain.json()["dns_records"]}


async def add_contacts(client: httpx.AsyncClient, team: Team, people: list[dict[str, Any]]) -> str:
    """A list named Newsletter with these contacts (subscribed unless they say otherwise)."""
    editor = team[Role.EDITOR].headers
    listed = await client.post("/api/lists", json={"name": "Newsletter"}, headers=editor)
    assert listed.status_code == 201, listed.text
    list_id = str(listed.json()["id"])
    for person in people:
        body = {"consent": "subscribed", "consent_source": "test", **person, "lists": [list_id]}
        created = await client.post("/api/contacts", json=body, headers=editor)
        assert created.status_code == 201, created.text
    return list_id


async def approved_campaign(
    client: httpx.AsyncClient,
    team: Team,
    *,
    subject: str,
    body: str,
    sender: str = SENDER,
    variants: str = "",
) -> str:
    """A campaign approved by a reviewer; `variants`: its A/B subject lines, one per line."""
    editor = team[Role.EDITOR].headers
    created = await client.post(
        "/api/campaigns", json={"name": "Spring", "subject": subject, "sender": sender}, headers=editor
    )
    assert created.status_code == 201, created.text
    campaign_id = str(created.json()["id"])
    content = {"body": body, "subject_variants": variants}
    patched = await client.patch(f"/api/campaigns/{campaign_id}/content", json=content, headers=editor)
    assert patched.status_code == 200, patched.text
    for role, action in ((Role.EDITOR, "submit"), (Role.REVIEWER, "approve")):
        moved = await client.post(
            f"/api/campaigns/{campaign_id}/transitions", json={"action": action}, headers=team[role].headers
        )
        assert moved.status_code == 200, moved.text
    return campaign_id


async def start_send(
    client: httpx.AsyncClient, team: Team, campaign_id: str, **audience: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/campaigns/{campaign_id}/sends", json=audience, headers=team[Role.ADMIN].headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def wait_for_send(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    send_id: str,
    statuses: tuple[str, ...] = ("done",),
    within: float = 30,
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        send = (await client.get(f"/api/sends/{send_id}", headers=headers)).json()
        if send["status"] in statuses:
            return dict(send)
        if time.monotonic() > deadline:
            raise AssertionError(f"send still {send['status']} after {within} s: {send}")
        await anyio.sleep(0.05)


def verified_signatures(received: Received, records: dict[bytes, bytes]) -> list[bool]:
    """Verify every DKIM-Signature of a received message against the published records."""

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return records.get(name, b"")

    signatures = [h for h in received.message if h.lower() == "dkim-signature"]
    checker = dkim.DKIM(received.data)
    return [checker.verify(idx=index, dnsfunc=dns) for index in range(len(signatures))]


def campaign_messages(sink: SmtpSink) -> list[Received]:
    """What the sink got from sends (double opt-in requests to pending contacts left out)."""
    return [r for r in sink.received if r.message["X-JustMaily-Send"]]


def sink_messages(sink: SmtpSink) -> dict[str, Received]:
    return {r.recipient: r for r in campaign_messages(sink)}
