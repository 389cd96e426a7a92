"""The transparency log through the API, checked with the offline verifier as a client would."""

from __future__ import annotations

import base64
from typing import Any

import anyio
import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text

from justmaily.server.services import services_of
from justmaily.shared.roles import Role
from justmaily.shared.verify import transparency
from tests.plugins.api import Team
from tests.server.delivery.steps import approved_campaign


async def signed_head(client: httpx.AsyncClient, headers: dict[str, str], at_least: int) -> dict[str, Any]:
    """The latest signed tree head once it covers `at_least` entries (bounded wait)."""
    with anyio.fail_after(10):
        while True:
            response = await client.get("/api/transparency/tree-head", headers=headers)
            if response.status_code == 200 and response.json()["size"] >= at_least:
                return dict(response.json())
            await anyio.sleep(0.02)


async def approval_entries(
    client: httpx.AsyncClient, headers: dict[str, str], size: int
) -> list[dict[str, Any]]:
    found = []
    for index in range(size):
        response = await client.get(f"/api/transparency/entries/{index}", headers=headers)
        if response.status_code == 200 and response.json()["kind"] == "approval":
            found.append(response.json())
    return found


def b64(text: str) -> bytes:
    return base64.b64decode(text)


async def test_an_approval_is_logged_signed_and_provable_offline(
    client: httpx.AsyncClient, team: Team
) -> None:
    viewer = team[Role.VIEWER].headers
    campaign_id = await approved_campaign(client, team, subject="Spring", body="Hello")
    key = (await client.get("/api/transparency/key", headers=viewer)).json()
    head = await signed_head(client, viewer, 3)  # the log key and the CA, then the approval
    checkpoint, verdict = transparency.open_checkpoint(head["checkpoint"], key["verifier_key"])
    assert verdict, verdict.reason
    assert checkpoint is not None
    assert (checkpoint.origin, checkpoint.size) == (key["origin"], head["size"])
    assert checkpoint.root == b64(head["root_hash"])

    [entry] = await approval_entries(client, viewer, head["size"])
    campaign = (await client.get(f"/api/campaigns/{campaign_id}", headers=viewer)).json()
    assert entry["data"]["campaign_id"] == campaign_id
    assert entry["data"]["content_hash"] == campaign["approved_hash"]
    assert entry["data"]["approvers"] == [str(team[Role.REVIEWER].id)]
    assert entry["data"]["revision"] == campaign["revision"]
    assert b64(entry["leaf"]).decode().startswith("{")  # the exact bytes hashed, canonical JSON

    proof = (await client.get(f"/api/transparency/entries/{entry['index']}/inclusion", headers=viewer)).json()
    assert proof["tree_size"] == head["size"]
    leaf = transparency.leaf_hash(b64(entry["leaf"]))
    hashes = [b64(h) for h in proof["hashes"]]
    assert transparency.verify_inclusion(leaf, entry["index"], checkpoint.size, hashes, checkpoint.root)

    # Another approval: the newer head extends the older one.
    await approved_campaign(client, team, subject="Summer", body="Hi")
    newer = await signed_head(client, viewer, head["size"] + 1)
    consistency = await client.get(
        "/api/transparency/consistency",
        params={"first": head["size"], "second": newer["size"]},
        headers=viewer,
    )
    assert consistency.status_code == 200, consistency.text
    assert transparency.verify_consistency(
        head["size"],
        newer["size"],
        checkpoint.root,
        b64(newer["root_hash"]),
        [b64(h) for h in consistency.json()["hashes"]],
    )
    chain = (await client.get("/api/transparency/tree-heads", headers=viewer)).json()["items"]
    assert [h["size"] for h in chain] == sorted({h["size"] for h in chain}, reverse=True)
    assert chain[0]["size"] == newer["size"]

    # Another workspace sees hashes, never the entry.
    rival = team.rival.headers
    assert (await client.get(f"/api/transparency/entries/{entry['index']}", headers=rival)).status_code == 404
    assert (await client.get("/api/transparency/tree-head", headers=rival)).status_code == 200


@pytest.mark.backends("sqlite")
async def test_questions_the_log_cannot_answer_get_clear_errors(
    client: httpx.AsyncClient, team: Team
) -> None:
    viewer = team[Role.VIEWER].headers
    head = await signed_head(client, viewer, 1)
    size = head["size"]
    cases: list[tuple[str, dict[str, str | int], int]] = [
        ("/api/transparency/entries/0/inclusion", {"tree_size": size + 5}, 422),
        ("/api/transparency/entries/999999/inclusion", {}, 404),
        ("/api/transparency/entries/999999", {}, 404),
        ("/api/transparency/entries/-1", {}, 404),
        ("/api/transparency/consistency", {"first": 0, "second": size}, 422),
        ("/api/transparency/consistency", {"first": size + 1, "second": size}, 422),
        ("/api/transparency/consistency", {"first": 1, "second": size + 9}, 422),
        ("/api/transparency/consistency", {"first": "x", "second": 1}, 400),
        ("/api/transparency/tree-heads", {"cursor": "abc"}, 400),
    ]
    for path, params, status in cases:
        response = await client.get(path, params=params, headers=viewer)
        assert response.status_code == status, (path, params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/transparency/tree-head")).status_code == 401


async def test_rewriting_history_is_refused_and_if_forced_detected(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    viewer = team[Role.VIEWER].headers
    await approved_campaign(client, team, subject="Spring", body="Hello")
    key = (await client.get("/api/transparency/key", headers=viewer)).json()["verifier_key"]
    head = await signed_head(client, viewer, 3)
    checkpoint, _ = transparency.open_checkpoint(head["checkpoint"], key)
    assert checkpoint is not None
    [entry] = await approval_entries(client, viewer, head["size"])
    index = entry["index"]

    # The database refuses changes to the log...
    async with services_of(app).database.session() as session:
        for statement in (
            "UPDATE log_entries SET created_at = created_at WHERE log_index = 0",
            "DELETE FROM log_nodes",
            "UPDATE tree_heads SET size = size + 1",
        ):
            with pytest.raises(Exception, match="append-only"):
                await session.execute(text(statement))
            await session.rollback()

    # ...and an operator who drops the guard to swap the approver is caught by any client:
    # the entry no longer hashes to a leaf of the signed tree.
    forged = dict(entry["data"], approvers=[str(team[Role.VIEWER].id)])
    from justmaily.server.trust.log import leaf_bytes
    from justmaily.shared.trust import EntryKind

    async with services_of(app).database.session() as session, session.begin():
        postgres = session.get_bind().dialect.name == "postgresql"
        trigger = "log_entries_append_only ON log_entries" if postgres else "log_entries_no_update"
        await session.execute(text(f"DROP TRIGGER {trigger}"))
        await session.execute(
            text("UPDATE log_entries SET leaf = :leaf WHERE log_index = :index"),
            {
                "leaf": leaf_bytes(EntryKind.APPROVAL, {k: v for k, v in forged.items() if k != "kind"}),
                "index": index,
            },
        )
    served = (await client.get(f"/api/transparency/entries/{index}", headers=viewer)).json()
    assert served["data"]["approvers"] == [str(team[Role.VIEWER].id)]  # the server now says so
    proof = (
        await client.get(
            f"/api/transparency/entries/{index}/inclusion",
            params={"tree_size": checkpoint.size},
            headers=viewer,
        )
    ).json()
    verdict = transparency.verify_inclusion(
        transparency.leaf_hash(b64(served["leaf"])),
        index,
        checkpoint.size,
        [b64(h) for h in proof["hashes"]],
        checkpoint.root,
    )
    assert not verdict
    assert "root" in verdict.reason
