"""Desktop accounts signed in to the `live` server, each with its own config and data folders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest

from justmaily.desktop.engine.account import Account, Paths
from justmaily.desktop.engine.credentials import Credentials, FileSecrets
from justmaily.desktop.engine.room_client import Timing
from justmaily.desktop.engine.sync import CampaignSync
from justmaily.shared.roles import Role
from tests.plugins.api import TEST_PASSWORD
from tests.plugins.live_server import Live

# Quick retries and heartbeats, so reconnection happens within a test's patience.
FAST = Timing(backoff_initial=0.05, backoff_max=0.5, heartbeat=1.0, connect_timeout=5.0)


def paths_for(tmp_path: Path, name: str) -> Paths:
    return Paths(tmp_path / name / "config", tmp_path / name / "data")


def credentials_for(paths: Paths) -> Credentials:
    return Credentials(paths.config, FileSecrets(paths.config / "tokens.json"))


class Desktops:
    """Signs members of the live team in, as separate desktop installations."""

    def __init__(self, live: Live, tmp_path: Path, stack: AsyncExitStack) -> None:
        self.live = live
        self.tmp_path = tmp_path
        self.stack = stack

    def paths(self, role: Role) -> Paths:
        return paths_for(self.tmp_path, role.value)

    async def sign_in(self, role: Role) -> Account:
        paths = self.paths(role)
        account = await Account.sign_in(
            self.live.url,
            self.live.team[role].email,
            TEST_PASSWORD,
            paths=paths,
            credentials=credentials_for(paths),
            timing=FAST,
        )
        self.stack.push_async_callback(account.close)
        return account

    async def resume(self, role: Role) -> Account:
        paths = self.paths(role)
        account = await Account.resume(paths=paths, credentials=credentials_for(paths), timing=FAST)
        assert account is not None
        self.stack.push_async_callback(account.close)
        return account


@pytest.fixture
async def desktops(live: Live, tmp_path: Path) -> AsyncIterator[Desktops]:
    async with AsyncExitStack() as stack:
        yield Desktops(live, tmp_path, stack)


async def until(sync: CampaignSync, condition: Callable[[], bool], within: float = 15.0) -> None:
    """Wait, bounded, until `condition()` holds; re-checked whenever the sync reports a change."""
    with anyio.fail_after(within):
        while not condition():
            changed = anyio.Event()
            unsubscribe = sync.subscribe(changed.set)
            try:
                await changed.wait()
            finally:
                unsubscribe()
