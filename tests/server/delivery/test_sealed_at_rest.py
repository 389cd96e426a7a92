"""Contacts' addresses are sealed at rest: neither the SQLite file and its WAL nor a dump of the
PostgreSQL database holds one after contacts are created, imported, suppressed and sent to, and a
sealed address moved to another row does not open."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from justmaily.server.audiences import repository
from justmaily.server.audiences.models import Contact
from justmaily.server.protection.fields import SealedFieldError
from justmaily.server.services import services_of
from justmaily.server.settings import Settings
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.plugins.smtp import SmtpSink
from tests.server.audiences.test_audiences_api import _import
from tests.server.delivery.steps import (
    add_contacts,
    approved_campaign,
    set_up_sending,
    sink_messages,
    start_send,
    wait_for_send,
)

CREATED = ["ada.lovelace@sealed-example.org", "alan.turing@sealed-example.org"]
IMPORTED = ["grace.hopper@sealed-example.org", "edsger.dijkstra@sealed-example.org"]
SUPPRESSED = "barbara.liskov@sealed-example.org"  # suppressed without ever being a contact
PG_DUMP = "/usr/lib/postgresql/15/bin/pg_dump"


async def _seed(client: httpx.AsyncClient, team: Team) -> str:
    """Contacts created, imported and suppressed (and one unsubscribed); returns their list."""
    editor = team[Role.EDITOR].headers
    list_id = await add_contacts(client, team, [{"email": a, "name": "Someone"} for a in CREATED])
    rows = "".join(f"{address},Imported\n" for address in IMPORTED).encode()
    report = await _import(client, team, b"email,name\n" + rows, list_id=list_id)
    assert report["contacts_created"] == len(IMPORTED), report
    for address, reason in ((SUPPRESSED, "manual"), (CREATED[1], "unsubscribed")):
        body = {"email": address, "reason": reason}
        suppressed = await client.post("/api/suppressions", json=body, headers=editor)
        assert suppressed.status_code == 201, suppressed.text
    # Everything still reads back in the clear through the API.
    listed = (await client.get("/api/contacts", headers=editor)).json()["items"]
    assert sorted(c["email"] for c in listed) == sorted(CREATED + IMPORTED)
    query = {"filter": f'email = "{IMPORTED[0].upper()}"'}
    found = (await client.get("/api/contacts", params=query, headers=editor)).json()["items"]
    assert [c["email"] for c in found] == [IMPORTED[0]]
    suppressions = (await client.get("/api/suppressions", headers=editor)).json()["items"]
    assert sorted(s["email"] for s in suppressions) == sorted([SUPPRESSED, CREATED[1]])
    return list_id


async def _send(client: httpx.AsyncClient, team: Team, sink: SmtpSink, list_id: str) -> None:
    """A send to the list: the sender reads (and opens) its recipients in batches."""
    await set_up_sending(client, team, sink.url)
    campaign_id = await approved_campaign(client, team, subject="Hello {{ first_name }}", body="# Hi\n")
    send = await start_send(client, team, campaign_id, list_id=list_id)
    done = await wait_for_send(client, team[Role.VIEWER].headers, send["id"])
    assert done["status"] == "done", done
    assert set(sink_messages(sink)) == {CREATED[0], *IMPORTED}  # not the unsubscribed one


def _addresses_in(data: bytes) -> list[str]:
    return [a for a in [*CREATED, *IMPORTED, SUPPRESSED] if a.encode() in data or a.upper().encode() in data]


@pytest.mark.backends("sqlite")
async def test_no_address_is_in_the_sqlite_file_or_its_wal(
    app: Litestar, client: httpx.AsyncClient, team: Team, settings: Settings, smtp_sink: SmtpSink
) -> None:
    await _send(client, team, smtp_sink, await _seed(client, team))
    path = Path(str(make_url(settings.effective_database_url).database))
    files = [p for p in (path, Path(f"{path}-wal")) if p.exists()]
    assert path in files
    assert {str(p): _addresses_in(p.read_bytes()) for p in files} == {str(p): [] for p in files}


@pytest.mark.backends("postgresql")
async def test_no_address_is_in_a_dump_of_the_postgresql_database(
    app: Litestar, client: httpx.AsyncClient, team: Team, settings: Settings, smtp_sink: SmtpSink
) -> None:
    await _send(client, team, smtp_sink, await _seed(client, team))
    url = make_url(settings.effective_database_url).set(drivername="postgresql")
    with anyio.fail_after(120):
        dumped = await anyio.run_process([PG_DUMP, "--no-owner", url.render_as_string(hide_password=False)])
    assert b"CREATE TABLE public.contacts" in dumped.stdout
    assert _addresses_in(dumped.stdout) == []


async def test_an_address_moved_to_another_row_is_refused(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    await _seed(client, team)
    database = services_of(app).database
    async with database.session() as session, session.begin():
        first, second = list(await session.execute(select(Contact.id, Contact.email_sealed).limit(2)))
        moved = update(Contact).where(Contact.id == first.id).values(email_sealed=second.email_sealed)
        await session.execute(moved)
    async with database.session() as session:
        workspace_id = await session.scalar(select(Contact.workspace_id).where(Contact.id == first.id))
        assert workspace_id is not None
        with pytest.raises(SealedFieldError, match="copied from another row or column") as caught:
            await repository.get_contact(session, workspace_id, first.id)
        assert f"contacts.email/{first.id}" in str(caught.value)
        assert all(a not in str(caught.value) for a in CREATED + IMPORTED)  # never the content
        assert await repository.get_contact(session, workspace_id, second.id) is not None  # still opens
