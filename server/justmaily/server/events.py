"""Typed events that carry a domain's news up to the domains above it, which it must not import.

A lower domain announces (campaigns: an approval was granted or voided; a campaign's status
changed); the domains that care act, and the composition root (`app.py`) says who acts on what.
Two kinds of handler:

- `on`: run at once, inside the announcing transaction, so what they write commits with it or
  not at all (an approval, its certificate and its log entry; a voided approval and the sends
  it cancels). Litestar's `app.emit` cannot carry this: its listeners run later, elsewhere.
- `after_commit`: run once that transaction has committed, in the background (showing a new
  status in open editors); never after a rollback. Without a running app (the CLI, the demo
  seeding) there is nobody to show, and they are not run.

Litestar's `app.emit` keeps the post-request side effects that need no transaction
(`ACCESS_CHANGED`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import msgspec
import structlog
from anyio.abc import TaskGroup
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from justmaily.shared.campaigns import CampaignStatus

log = structlog.get_logger(__name__)

# Litestar event (app.emit): a member's access changed; live rooms drop what they held.
ACCESS_CHANGED = "access_changed"


class ApprovedVia(msgspec.Struct, frozen=True):
    """What acted for the approver (an API key or a service credential): the log says so."""

    kind: str
    id: uuid.UUID


class ApprovalGranted(msgspec.Struct, frozen=True, kw_only=True):
    """A campaign's content was approved: what trust logs and certifies."""

    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    revision: int
    content_hash: str
    approved_by: uuid.UUID
    approved_at: datetime
    via: ApprovedVia | None = None


class ApprovalVoided(msgspec.Struct, frozen=True, kw_only=True):
    """A campaign's approval no longer stands (an edit, a move back to draft)."""

    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    why: str
    was_approved: bool  # False: it was in review only, no approval to revoke


class CampaignStatusChanged(msgspec.Struct, frozen=True, kw_only=True):
    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    status: CampaignStatus


Event = ApprovalGranted | ApprovalVoided | CampaignStatusChanged
E = TypeVar("E", ApprovalGranted, ApprovalVoided, CampaignStatusChanged)
_PENDING = "justmaily_after_commit"


class Events:
    """The dispatcher: one per app, its handlers registered before it serves."""

    def __init__(self) -> None:
        self._in_transaction: dict[type[Any], list[Callable[[AsyncSession, Any], Awaitable[None]]]] = {}
        self._after_commit: dict[type[Any], list[Callable[[Any], Awaitable[None]]]] = {}
        self._group: TaskGroup | None = None

    def on(self, kind: type[E], handler: Callable[[AsyncSession, E], Awaitable[None]]) -> None:
        self._in_transaction.setdefault(kind, []).append(handler)

    def after_commit(self, kind: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        self._after_commit.setdefault(kind, []).append(handler)

    def start(self, group: TaskGroup) -> None:
        """Run after-commit handlers in `group` from now on (the app's lifespan)."""
        self._group = group

    def stop(self) -> None:
        self._group = None

    async def emit(self, session: AsyncSession, news: Event) -> None:
        for handler in self._in_transaction.get(type(news), ()):
            await handler(session, news)
        if self._group is not None and type(news) in self._after_commit:
            if _PENDING not in session.info:
                session.info[_PENDING] = []
                self._watch(session.sync_session)
            session.info[_PENDING].append(news)

    def _watch(self, session: Session) -> None:
        """Hand the session's pending news to their handlers when it commits; drop them when it
        rolls back. Once per session: its `info` outlives each of its transactions."""

        def committed(_session: Session) -> None:
            pending, session.info[_PENDING] = session.info[_PENDING], []
            for news in pending:
                for handler in self._after_commit.get(type(news), ()):
                    if self._group is not None:
                        self._group.start_soon(self._run, handler, news)

        def rolled_back(_session: Session) -> None:
            session.info[_PENDING] = []

        event.listen(session, "after_commit", committed)
        event.listen(session, "after_rollback", rolled_back)

    @staticmethod
    async def _run(handler: Callable[[Any], Awaitable[None]], news: Event) -> None:
        try:
            await handler(news)
        except Exception:  # the transaction stands; a view that lags is logged, not fatal
            log.exception("after_commit_handler_failed", event=type(news).__name__)
