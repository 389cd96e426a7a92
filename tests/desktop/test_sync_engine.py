"""The desktop's sync and offline engine, without Qt, against a real server process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from justmaily.desktop.engine.account import Account
from justmaily.desktop.engine.errors import DesktopError
from justmaily.desktop.engine.room_client import SyncStatus
from justmaily.desktop.engine.sync import CampaignSync
from justmaily.shared.document import replace_text
from justmaily.shared.roles import Role
from tests.plugins.desktop import Desktops, until
from tests.plugins.live_server import Live

pytestmark = pytest.mark.backends("sqlite")


@asynccontextmanager
async def running(account: Account, campaign_id: uuid.UUID) -> AsyncIterator[CampaignSync]:
    sync = await account.open(campaign_id)
    async with anyio.create_task_group() as group:
        group.start_soon(sync.run)
        try:
            yield sync
        finally:
            group.cancel_scope.cancel()


def type_at_end(sync: CampaignSync, field: str, typed: str) -> None:
    shared = sync.text(field)
    sync.edit(lambda _doc: shared.insert(len(shared), typed))


async def test_offline_edits_reach_the_server_after_it_restarts(
    live: Live, desktops: Desktops, tmp_path: Path
) -> None:
    campaign_id = uuid.UUID(await live.create_campaign(subject="Hello"))
    editor = await desktops.sign_in(Role.EDITOR)
    async with running(editor, campaign_id) as sync:
        await until(sync, lambda: sync.status is SyncStatus.ONLINE)
        assert str(sync.text("subject")) == "Hello"

        live.server.stop()
        await until(sync, lambda: sync.status is SyncStatus.OFFLINE)
        type_at_end(sync, "subject", ", world")
        type_at_end(sync, "body", "Written offline.")
        assert sync.pending == 2

        live.restart(tmp_path, same_port=True)
        await until(sync, lambda: sync.status is SyncStatus.ONLINE and sync.pending == 0)
    content = await live.content(live.team[Role.EDITOR], str(campaign_id))
    assert (content["subject"], content["body"]) == ("Hello, world", "Written offline.")


async def test_two_people_editing_offline_converge_without_losing_a_character(
    live: Live, desktops: Desktops, tmp_path: Path
) -> None:
    campaign_id = uuid.UUID(await live.create_campaign())
    first, second = await desktops.sign_in(Role.EDITOR), await desktops.sign_in(Role.OWNER)
    async with running(first, campaign_id) as one, running(second, campaign_id) as two:
        type_at_end(one, "body", "Shared start. ")
        await until(two, lambda: str(two.text("body")) == "Shared start. ")
        await until(one, lambda: one.pending == 0)

        live.server.stop()
        await until(one, lambda: one.status is SyncStatus.OFFLINE)
        await until(two, lambda: two.status is SyncStatus.OFFLINE)
        # Both type at the same place, and one also rewrites a word the other keeps.
        type_at_end(one, "body", "Ada's line.")
        type_at_end(two, "body", "Grace's line.")
        two.edit(lambda _doc: replace_text(two.text("subject"), "Grace's subject"))

        live.restart(tmp_path, same_port=True)
        await until(one, lambda: one.status is SyncStatus.ONLINE and one.pending == 0)
        await until(two, lambda: two.status is SyncStatus.ONLINE and two.pending == 0)
        await until(one, lambda: str(one.text("body")) == str(two.text("body")))
    merged = str(one.text("body"))
    assert merged.startswith("Shared start. ")
    assert "Ada's line." in merged
    assert "Grace's line." in merged
    assert len(merged) == len("Shared start. Ada's line.Grace's line.")
    assert str(one.text("subject")) == "Grace's subject"


async def test_pending_changes_survive_closing_the_app_and_are_sent_on_next_start(
    live: Live, desktops: Desktops, tmp_path: Path
) -> None:
    campaign_id = uuid.UUID(await live.create_campaign())
    editor = await desktops.sign_in(Role.EDITOR)
    assert [c.id for c in (await editor.campaigns())[0]] == [campaign_id]
    async with running(editor, campaign_id) as sync:
        await until(sync, lambda: sync.status is SyncStatus.ONLINE)
        live.server.stop()
        await until(sync, lambda: sync.status is SyncStatus.OFFLINE)
        type_at_end(sync, "body", "Typed, then the laptop closed.")
    await editor.close()

    # The app starts again while the server is still down: the edit is there, still pending.
    reopened = await desktops.resume(Role.EDITOR)
    sync = await reopened.open(campaign_id)
    assert str(sync.text("body")) == "Typed, then the laptop closed."
    assert sync.pending == 1
    listed, live_list = await reopened.campaigns()
    assert not live_list
    assert [c.id for c in listed] == [campaign_id]

    live.restart(tmp_path, same_port=True)
    async with running(reopened, campaign_id) as sync:
        await until(sync, lambda: sync.status is SyncStatus.ONLINE and sync.pending == 0)
    content = await live.content(live.team[Role.EDITOR], str(campaign_id))
    assert content["body"] == "Typed, then the laptop closed."


async def test_viewers_read_live_but_cannot_edit(live: Live, desktops: Desktops) -> None:
    campaign_id = uuid.UUID(await live.create_campaign(subject="Read me"))
    viewer = await desktops.sign_in(Role.VIEWER)
    async with running(viewer, campaign_id) as sync:
        await until(sync, lambda: sync.status is SyncStatus.ONLINE)
        assert sync.read_only
        assert str(sync.text("subject")) == "Read me"
        with pytest.raises(DesktopError, match="not edit"):
            type_at_end(sync, "subject", "!")


async def test_a_campaign_outside_the_workspace_stops_with_a_reason(live: Live, desktops: Desktops) -> None:
    stranger = uuid.UUID(await live.create_campaign(live.team.rival))
    editor = await desktops.sign_in(Role.EDITOR)
    async with running(editor, stranger) as sync:
        await until(sync, lambda: sync.status is SyncStatus.STOPPED)
    assert sync.problem
    assert "not found" in sync.problem.lower()


async def test_others_see_who_is_here_and_where_their_caret_is(live: Live, desktops: Desktops) -> None:
    campaign_id = uuid.UUID(await live.create_campaign(subject="Spring sale"))
    editor, reviewer = await desktops.sign_in(Role.EDITOR), await desktops.sign_in(Role.REVIEWER)
    async with running(editor, campaign_id) as one, running(reviewer, campaign_id) as two:
        await until(one, lambda: one.status is SyncStatus.ONLINE)
        await until(two, lambda: two.status is SyncStatus.ONLINE)
        one.set_cursor("subject", 0, len("Spring"))
        await until(two, lambda: any(p.field == "subject" for p in two.peers()))
        (peer,) = two.peers()
        assert peer.name == editor.presence["name"]
        assert peer.colour == editor.presence["color"]
        assert (peer.anchor, peer.head) == (0, len("Spring"))
        # The caret is a relative position: it follows text typed before it.
        two_subject = two.text("subject")
        await until(two, lambda: True)
        with pytest.raises(DesktopError):  # reviewers may not edit content
            two.edit(lambda _doc: two_subject.insert(0, "Big "))
