"""The app under Litestar's test client, and a seeded team: one member per role, two workspaces."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import anyio
import httpx
import pytest
from argon2 import PasswordHasher
from litestar import Litestar

from justmaily.server.app import create_app
from justmaily.server.db.base import utcnow
from justmaily.server.db.engine import Database
from justmaily.server.identity.models import Membership, User, Workspace
from justmaily.server.identity.tokens import TokenSigner
from justmaily.server.services import services_of
from justmaily.server.settings import Settings
from justmaily.shared.roles import Role

TEST_PASSWORD = "correct horse battery staple"
_PASSWORD_HASH = PasswordHasher().hash(TEST_PASSWORD)  # hashed once: argon2 is slow on purpose


@dataclass
class Member:
    id: uuid.UUID
    email: str
    role: Role
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Team:
    """Workspace `acme` with a member per role, and workspace `rival` with one owner."""

    workspace_id: uuid.UUID
    members: dict[Role, Member]
    rival: Member
    rival_workspace_id: uuid.UUID
    extra: dict[str, Member] = field(default_factory=dict)

    def __getitem__(self, role: Role) -> Member:
        return self.members[role]


async def seed_team(app: Litestar) -> Team:
    return await seed_team_into(services_of(app).database, services_of(app).signer)


async def seed_team_into(database: Database, signer: TokenSigner) -> Team:
    now = utcnow()

    def token(user_id: uuid.UUID, workspace_id: uuid.UUID) -> str:
        return str(signer.issue("access", user_id, now, timedelta(minutes=30), wsp=str(workspace_id))[0])

    async with database.session() as session, session.begin():
        acme, rival_ws = Workspace(slug="acme", name="Acme"), Workspace(slug="rival", name="Rival")
        session.add_all([acme, rival_ws])
        await session.flush()
        members = {}
        for role in Role:
            user = User(
                email=f"{role.value}@acme.example.com",
                display_name=role.value.title(),
                password_hash=_PASSWORD_HASH,
            )
            session.add(user)
            await session.flush()
            session.add(Membership(workspace_id=acme.id, user_id=user.id, role=role))
            members[role] = Member(user.id, user.email, role, token(user.id, acme.id))
        rival_user = User(email="owner@rival.example.com", display_name="Rival", password_hash=_PASSWORD_HASH)
        session.add(rival_user)
        await session.flush()
        session.add(Membership(workspace_id=rival_ws.id, user_id=rival_user.id, role=Role.OWNER))
        rival = Member(rival_user.id, rival_user.email, Role.OWNER, token(rival_user.id, rival_ws.id))
    return Team(workspace_id=acme.id, members=members, rival=rival, rival_workspace_id=rival_ws.id)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


async def _until_listening(app: Litestar) -> None:
    """On PostgreSQL the app hears other replicas once its fan-out listens: wait for that."""
    fanout = services_of(app).fanout
    if fanout is None:
        return
    with anyio.move_on_after(10):
        await fanout.first_listening.wait()


@asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[None]:
    """Start-up and shut-down of the app, in one task of its own.

    pytest-asyncio sets a fixture up and tears it down in different tasks, and the app's
    lifespan holds a task group, which must be left in the task that entered it.
    """
    started, stop = asyncio.Event(), asyncio.Event()

    async def lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.get_running_loop().create_task(lifespan())
    waiter = asyncio.get_running_loop().create_task(started.wait())
    await asyncio.wait({task, waiter}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if not started.is_set():
        waiter.cancel()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if not task.cancelled() and task.exception():
            raise task.exception()  # type: ignore[misc]
        raise TimeoutError("app did not start within 30 s")
    try:
        await _until_listening(app)
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def http_client(app: Litestar, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    """An HTTP client calling the app in-process, as if from `ip`."""
    transport = httpx.ASGITransport(app=cast("Any", app), client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The app started, and a client for it, in the test's own event loop (so tests may also use
    `services_of(app).database`; Litestar's AsyncTestClient would run the app in another loop)."""
    async with running(app), http_client(app) as test_client:
        yield test_client


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(app) as test_client:
        yield test_client


@pytest.fixture
async def team(app: Litestar, client: httpx.AsyncClient) -> Team:
    return await seed_team(app)
