"""A workspace's relay cannot point inside: refused when added, and again when the sender connects."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from justmaily.server.delivery.models import Relay
from justmaily.server.delivery.transport.relay_addresses import (
    InternalAddressError,
    check_host,
    is_internal,
    literal_address,
    refuse_internal,
)
from justmaily.server.services import services_of
from justmaily.server.settings import Settings
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.plugins.smtp import SmtpSink
from tests.server.delivery.conftest import FAST_DELIVERY
from tests.server.delivery.steps import (
    add_contacts,
    approved_campaign,
    campaign_messages,
    set_up_sending,
    start_send,
    wait_for_send,
)

INTERNAL = [
    "169.254.169.254",  # a cloud's metadata service
    "127.0.0.1",
    "127.1",
    "2130706433",  # 127.0.0.1, in decimal
    "0x7f000001",  # … in hex
    "0177.0.0.1",  # … in octal
    "0",  # 0.0.0.0 reaches this machine
    "10.0.0.5",
    "172.16.3.4",
    "192.168.1.1",
    "100.64.0.1",  # shared address space (carrier NAT)
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "fe80::1",
    "fd00::1",
    "64:ff9b::a00:5",  # 10.0.0.5 through NAT64
    "2002:7f00:1::",  # 127.0.0.1 through 6to4
    "localhost",
    "LocalHost.",
    "smtp.localhost",
]
PUBLIC = ["93.184.215.14", "2606:4700:4700::1111", "smtp.example.com"]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The default: relays must be on the internet (the SMTP sink on loopback is refused)."""
    fast = {**FAST_DELIVERY, "smtp_allow_private_relays": False}
    return Settings.of(database_url=database_url, data_dir=str(tmp_path / "data"), **fast)


@pytest.mark.parametrize("host", INTERNAL)
def test_internal_hosts_are_refused_however_they_are_written(host: str) -> None:
    with pytest.raises(InternalAddressError):
        check_host(host)


@pytest.mark.parametrize("host", PUBLIC)
async def test_hosts_on_the_internet_are_allowed(host: str) -> None:
    check_host(host)
    await refuse_internal(host, 25)  # smtp.example.com does not resolve here: let through


def test_literal_addresses_are_read_as_the_resolver_reads_them() -> None:
    assert str(literal_address("0x7f.1")) == "127.0.0.1"
    assert literal_address("relay.example.com") is None
    public = literal_address("93.184.215.14")
    assert public is not None
    assert not is_internal(public)


async def test_a_name_that_resolves_inside_is_refused() -> None:
    # This machine's own name resolves to one of its addresses: loopback or a private network.
    name = socket.gethostname()
    with pytest.raises(InternalAddressError, match="resolves to an internal address"):
        await refuse_internal(name, 25)


@pytest.mark.backends("sqlite")
async def test_the_api_refuses_internal_relays_with_a_clear_code(
    client: httpx.AsyncClient, team: Team
) -> None:
    owner = team[Role.OWNER].headers
    urls = [
        "smtp://169.254.169.254",
        "smtp://127.0.0.1:5432",
        "smtps://10.1.2.3",
        "smtp://2130706433:25",
        "smtp://0x7f000001",
        "smtp://[::ffff:127.0.0.1]:25",
        "smtp://localhost:25",
        f"smtp://{socket.gethostname()}:25",
    ]
    for index, url in enumerate(urls):
        response = await client.post(
            "/api/delivery/relays", json={"name": f"r{index}", "url": url}, headers=owner
        )
        assert response.status_code == 422, (url, response.text)
        problem = response.json()
        assert problem["code"] == "relay_address_not_allowed", problem
        assert problem["errors"][0]["field"] == "url"
    assert (await client.get("/api/delivery/relays", headers=owner)).json() == []
    public = {"name": "public", "url": "smtp://93.184.215.14:587"}
    assert (await client.post("/api/delivery/relays", json=public, headers=owner)).status_code == 201


async def test_the_sender_checks_the_address_again_when_it_connects(
    app: Litestar, client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    """A relay stored while it was allowed (or whose name resolved elsewhere then) is not used."""
    await set_up_sending(client, team)
    async with services_of(app).database.session() as session, session.begin():
        session.add(Relay(workspace_id=team.workspace_id, name="sink", url=smtp_sink.url))
    list_id = await add_contacts(client, team, [{"email": "ada@example.com", "name": "Ada"}])
    campaign_id = await approved_campaign(client, team, subject="Hi", body="Hello")
    send = await start_send(client, team, campaign_id, list_id=list_id)

    paused = await wait_for_send(client, team[Role.VIEWER].headers, send["id"], ("paused",))
    assert "internal address (127.0.0.1)" in paused["alert"], paused["alert"]
    assert paused["counts"]["queued"] == 1
    assert campaign_messages(smtp_sink) == []
    assert smtp_sink.received == []
