"""A read request is one read transaction: authentication looks the credential up in the
session the handler then works in (identity/middleware.py, db/session.py). Nothing about a
principal is remembered between requests, so revocation acts on the very next one, in any
process that shares the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import event

from justmaily.server.app import create_app
from justmaily.server.services import services_of
from justmaily.server.settings import Settings
from justmaily.shared.roles import Role
from tests.plugins.api import Team, serving

_IN_REQUEST: ContextVar[bool] = ContextVar("in_request", default=False)


@contextmanager
def transactions_begun(app: Litestar) -> Iterator[list[int]]:
    """How many transactions the block's own task begins (a list of one count). The in-process
    client runs the app in the caller's task; the app's background tasks (the sender, the log's
    publisher) began in contexts of their own and are not counted."""
    engine = services_of(app).database.engine.sync_engine
    count = [0]

    def begun(_connection: Any) -> None:
        count[0] += _IN_REQUEST.get()

    event.listen(engine, "begin", begun)
    token = _IN_REQUEST.set(True)
    try:
        yield count
    finally:
        _IN_REQUEST.reset(token)
        event.remove(engine, "begin", begun)


async def test_a_read_is_one_transaction_for_authentication_and_handler(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    viewer = team[Role.VIEWER].headers
    created = await client.post("/api/campaigns", json={"name": "x"}, headers=team[Role.EDITOR].headers)
    assert created.status_code == 201
    for path in ("/api/campaigns", f"/api/campaigns/{created.json()['id']}", "/api/auth/me"):
        with transactions_begun(app) as begun:
            response = await client.get(path, headers=viewer)
        assert response.status_code == 200, (path, response.text)
        assert begun == [1], path
    # A write still authenticates in a read of its own, before it waits for the write turn.
    with transactions_begun(app) as begun:
        assert (await client.post("/api/campaigns", json={"name": "y"}, headers=viewer)).status_code == 403
    assert begun == [1]


async def test_reads_refused_or_failing_after_authentication_leave_the_session_usable(
    client: httpx.AsyncClient, team: Team
) -> None:
    viewer = team[Role.VIEWER].headers
    # More refusals than the pool has connections (10 + 10 overflow): a session left open by
    # each would leave the last requests waiting for a connection past the test's timeout.
    # The guard refuses (no handler ran): the lent session is closed with the request.
    for _ in range(25):
        assert (await client.get("/api/members", headers=viewer)).status_code in (200, 403)
        assert (await client.get("/api/api-keys", headers=viewer)).status_code == 403
        # The handler fails: its transaction is rolled back, and the answer is a problem.
        missing = await client.get("/api/campaigns/00000000-0000-4000-8000-000000000000", headers=viewer)
        assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert (await client.get("/api/campaigns", headers=viewer)).status_code == 200


async def test_a_removed_member_is_refused_on_the_next_read_by_every_process(
    app: Litestar, client: httpx.AsyncClient, team: Team, settings: Settings
) -> None:
    """Two app instances on one database, as two server processes: a removal through one is
    refused by the other on its next request, with no time to forget a remembered principal."""
    owner, editor = team[Role.OWNER], team[Role.EDITOR]
    async with serving(create_app(settings)) as other:
        assert (await other.get("/api/campaigns", headers=editor.headers)).status_code == 200
        demoted = await client.patch(
            f"/api/members/{editor.id}", json={"role": "viewer"}, headers=owner.headers
        )
        assert demoted.status_code == 200
        me = await other.get("/api/auth/me", headers=editor.headers)
        assert me.status_code == 200
        assert me.json()["role"] == "viewer"
        assert (
            await other.post("/api/campaigns", json={"name": "y"}, headers=editor.headers)
        ).status_code == 403
        assert (await client.delete(f"/api/members/{editor.id}", headers=owner.headers)).status_code == 204
        for path in ("/api/campaigns", "/api/auth/me"):
            refused = await other.get(path, headers=editor.headers)
            assert (refused.status_code, refused.json()["code"]) == (401, "invalid_token"), path
