"""Every stored secret a server process opens (DKIM keys, relay passwords) is in the audit log,
once per process: not at every reload."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import httpx
import pytest
from cryptography.fernet import Fernet
from litestar import Litestar

from justmaily.server.keys.sealed import SealedSecretError, SecretBox
from justmaily.shared.roles import Role
from tests.plugins.api import Team


def test_a_secret_is_reported_the_first_time_this_process_opens_it() -> None:
    reads: list[tuple[str, uuid.UUID | None]] = []
    box = SecretBox(Fernet.generate_key(), on_read=lambda what, ws: reads.append((what, ws)))
    workspace = uuid.uuid4()
    first, second = box.seal(b"hunter2"), box.seal(b"correct horse")
    for _ in range(3):
        assert box.open(first, what="password of relay main", workspace_id=workspace) == b"hunter2"
    assert box.open(second, what="password of relay backup") == b"correct horse"
    assert reads == [("password of relay main", workspace), ("password of relay backup", None)]
    altered = first[:-2] + (b"A" if first[-2:-1] != b"A" else b"B") + first[-1:]
    with pytest.raises(SealedSecretError, match="cannot be opened"):
        box.open(altered, what="tampered")
    assert len(reads) == 2  # nothing was read
    assert "hunter2" not in repr(box)


async def audit_of(client: httpx.AsyncClient, team: Team) -> list[dict[str, Any]]:
    response = await client.get("/api/audit", params={"limit": 500}, headers=team[Role.OWNER].headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_showing_a_sending_domains_dns_records_reads_its_dkim_keys_on_record(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    admin = team[Role.ADMIN]
    created = await client.post(
        "/api/delivery/domains", json={"domain": "mail.acme.example"}, headers=admin.headers
    )
    assert created.status_code == 201, created.text
    for _ in range(3):
        assert (await client.get("/api/delivery/domains", headers=admin.headers)).status_code == 200
    wanted = {"DKIM key of mail.acme.example (RSA)", "DKIM key of mail.acme.example (Ed25519)"}
    with anyio.fail_after(10):
        while True:
            entries = await audit_of(client, team)
            if wanted <= {e["subject"] for e in entries}:
                break
            await anyio.sleep(0.05)
    reads = [e for e in entries if e["action"] == "secret.read"]
    assert sorted(e["subject"] for e in reads) == sorted(wanted)  # once each, though shown four times
    assert {(e["actor_kind"], e["actor_id"]) for e in reads} == {("system", "server")}
    rival = (await client.get("/api/audit", headers=team.rival.headers)).json()["items"]
    assert not [e for e in rival if e["action"] == "secret.read"]
