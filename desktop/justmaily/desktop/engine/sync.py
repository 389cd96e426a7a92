"""One open campaign's document: kept in the local store, synced with the server's room.

Plain Python; the Qt layer only adapts it. The document is always editable: typing lands in the
local store at once (`offline.py`) and reaches the server whenever a connection exists
(`room_client.py`: reconnection with backoff, the state-vector exchange that sends exactly what
the server lacks and fetches what this copy lacks). Presence and carets: `presence.py`.

"Pending" counts local changes the server has not yet confirmed storing (the room's "stored"
acks): they survive a restart in the local store and are sent again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import anyio
from pycrdt import Doc, Map, Text, TransactionEvent

from justmaily.desktop.engine.errors import DesktopError, ErrorKind
from justmaily.desktop.engine.local_store import LocalStore
from justmaily.desktop.engine.notify import Topic
from justmaily.desktop.engine.offline import OfflineLog
from justmaily.desktop.engine.presence import Activity, Peer, Presence
from justmaily.desktop.engine.room_client import (
    LOADED,
    LOCAL,
    REMOTE,
    RoomAccess,
    RoomClient,
    SyncStatus,
    Timing,
)
from justmaily.shared.collaboration import COMMENTS, EMPTY_UPDATE, INSIGHTS, TEXT_FIELDS
from justmaily.shared.document import text


class CampaignSync:
    def __init__(
        self,
        campaign_id: uuid.UUID,
        store: LocalStore,
        access: RoomAccess,
        *,
        user: dict[str, str],
        timing: Timing | None = None,
    ) -> None:
        self.campaign_id = campaign_id
        self.store = store
        self.access = access
        self.timing = timing or Timing()
        self.doc: Doc[Any] = Doc()
        self.offline = OfflineLog(campaign_id, store)
        self.room = RoomClient(self.doc, timing=self.timing, journal=self.offline)
        # The root types, made now: never later, inside a transaction.
        self._texts = {name: text(self.doc, name) for name in TEXT_FIELDS}
        self.doc.get(COMMENTS, type=Map)
        self.doc.get(INSIGHTS, type=Map)
        self.presence = Presence(self.room, self._texts, user, self.timing)
        self.changed = Topic()  # the document, the status, the pending count or anyone's presence
        self.status_changed = Topic()  # the status, the problem or the pending count
        self.room.status_changed.subscribe(self.status_changed.emit)
        self.status_changed.subscribe(self.changed.emit)
        self.presence.changed.subscribe(self.changed.emit)
        self._subscription = self.doc.observe(self._on_transaction)
        self._run_scope = anyio.CancelScope()
        self._finished: anyio.Event | None = None

    # For the UI ------------------------------------------------------------------------------

    @property
    def status(self) -> SyncStatus:
        return self.room.status

    @property
    def problem(self) -> str | None:
        return self.room.problem

    @property
    def next_retry_in(self) -> float | None:
        return self.room.next_retry_in

    @property
    def read_only(self) -> bool:
        return self.room.read_only

    @property
    def synced_once(self) -> bool:
        return self.room.synced_once

    @property
    def pending(self) -> int:
        return self.offline.pending

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """`listener()` runs after any change of the document, status, pending count or peers.
        Returns the function that unsubscribes it."""
        return self.changed.subscribe(listener)

    def text(self, name: str) -> Text:
        return self._texts[name]

    def edit(self, change: Callable[[Doc[Any]], None]) -> None:
        if self.read_only:
            raise DesktopError(ErrorKind.FORBIDDEN, "Your role can read this campaign but not edit it")
        with self.doc.transaction(origin=LOCAL):
            change(self.doc)

    def set_cursor(self, field: str | None, anchor: int | None = None, head: int | None = None) -> None:
        """Where our caret and selection are (offsets into `field`'s text), for others to draw."""
        self.presence.set_cursor(field, anchor, head)

    def activity(self) -> Activity:
        return self.presence.activity()

    def peers(self) -> list[Peer]:
        return self.presence.peers()

    def retry_now(self) -> None:
        """Skip the rest of the backoff (the user pressed "Reconnect", or the network came back)."""
        self.room.retry_now()

    # Life cycle ------------------------------------------------------------------------------

    async def load(self) -> None:
        """Open the campaign from the local store (works offline)."""
        await self.offline.load(self.doc)

    async def run(self) -> None:
        """Keep the document in sync until cancelled or `stop()`ped. Call `load()` first."""
        self._finished = anyio.Event()
        try:
            with self._run_scope:
                async with anyio.create_task_group() as group:
                    group.start_soon(self.offline.write_forever)
                    group.start_soon(self.presence.follow_activity)
                    await self.room.run(self.access, self.campaign_id)
                    # Refused for good: keep storing what is typed until the campaign is closed.
                    await anyio.sleep_forever()
        finally:
            self._finished.set()

    async def stop(self) -> None:
        """End `run()` and wait for it: what was queued is written first (`OfflineLog`)."""
        self._run_scope.cancel()
        if self._finished is not None:
            with anyio.CancelScope(shield=True):
                await self._finished.wait()

    async def flush(self) -> None:
        """Wait until every change so far is in the local store."""
        await self.offline.flush()

    def close(self) -> None:
        """Let go of the document (call `flush()` first to keep what was typed)."""
        self.doc.unobserve(self._subscription)
        self.offline.close()

    def _on_transaction(self, event: TransactionEvent) -> None:
        transaction: Any = event.transaction  # type: ignore[attr-defined]  # missing from pycrdt's stub
        origin = transaction.origin()
        update = event.update
        if origin == hash(LOADED) or update == EMPTY_UPDATE:
            return
        local = origin != hash(REMOTE)
        self.offline.record(update, local=local)
        if local:
            self.room.send_update(update)
            self.presence.typed()
            self.status_changed.emit()  # one more pending
        self.changed.emit()
