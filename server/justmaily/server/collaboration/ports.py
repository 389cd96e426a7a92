"""What collaboration hands to the domains above it, named here so it never imports them."""

from __future__ import annotations

import uuid
from typing import Protocol


class ContentWatcher(Protocol):
    """Told when a document's texts changed (after they are stored, at most once a second while
    typing goes on: upkeep.py). Must return at once: it runs on the room's write path, and
    editing never waits on what watches it (the agent mesh)."""

    def changed(
        self, campaign_id: uuid.UUID, workspace_id: uuid.UUID, texts: dict[str, str], revision: str
    ) -> None:
        """`revision` is the document's content hash, which the watcher's results name."""
