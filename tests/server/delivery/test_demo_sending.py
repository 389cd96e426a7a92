"""The README's sending walk-through: the demo workspace sends its approved campaign as it is."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from justmaily.server.demo import DEMO_USERS, seed_demo
from justmaily.server.keys.files import fernet_key
from justmaily.server.keys.sealed import SecretBox
from justmaily.server.services import services_of
from justmaily.server.settings import Settings
from justmaily.shared.roles import Role
from tests.plugins.smtp import SmtpSink
from tests.server.delivery.steps import verified_signatures, wait_for_send


@pytest.mark.backends("sqlite")
async def test_the_demo_sends_its_approved_campaign_signed(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, smtp_sink: SmtpSink
) -> None:
    await seed_demo(
        services_of(app).database, "demo password", SecretBox(fernet_key(settings.secrets_key_path))
    )
    login = await client.post(
        "/api/auth/login", json={"email": DEMO_USERS[Role.OWNER], "password": "demo password"}
    )
    owner = {"Authorization": f"Bearer {login.json()['access_token']}"}
    relay = {"name": "local", "url": smtp_sink.url}
    assert (await client.post("/api/delivery/relays", json=relay, headers=owner)).status_code == 201
    domains = (await client.get("/api/delivery/domains", headers=owner)).json()
    records = {f"{r['name']}.".encode(): r["value"].encode() for r in domains[0]["dns_records"]}
    (subscribers,) = (await client.get("/api/lists", headers=owner)).json()
    campaigns = (await client.get("/api/campaigns", params={"status": "approved"}, headers=owner)).json()
    campaign_id = campaigns["items"][0]["id"]

    send = await client.post(
        f"/api/campaigns/{campaign_id}/sends", json={"list_id": subscribers["id"]}, headers=owner
    )
    assert send.status_code == 201, send.text
    done = await wait_for_send(client, owner, send.json()["id"])
    assert done["counts"]["sent"] == subscribers["members"] == 5
    received = smtp_sink.received
    assert len(received) == 5
    assert all(verified_signatures(message, records) == [True, True] for message in received)
