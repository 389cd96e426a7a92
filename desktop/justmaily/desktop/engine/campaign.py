"""One campaign open for editing: the model the editor's panels follow and change it through.

It owns the campaign's document (a `CampaignSync`: local store and room), what the campaign's
row says (status, a send-back's reason) and its review actions, its versions, comments, and the
user's undo history. Widgets subscribe to `events` (one topic per kind of change) and call its
methods; they never edit the document or call the REST API themselves.

Texts change through `set_text(field, new)`: the changed run, diffed (`replace_text`), in one
transaction. Offsets are code points here; pycrdt's UTF-8 bytes stay inside the document
functions, Qt's UTF-16 units inside the widget that shows the text.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from pycrdt import Map, Subscription, Text, UndoManager

from justmaily.desktop.engine import comments
from justmaily.desktop.engine.api import ApiClient
from justmaily.desktop.engine.notify import Topic
from justmaily.desktop.engine.presence import Peer
from justmaily.desktop.engine.review import EditConsent
from justmaily.desktop.engine.room_client import LOCAL
from justmaily.desktop.engine.sync import CampaignSync
from justmaily.shared.campaigns import TRANSITIONS, Campaign, CampaignAction, CampaignStatus
from justmaily.shared.collaboration import (
    CAMPAIGN_STATE,
    COMMENTS,
    TEXT_FIELDS,
    CampaignContent,
    Comment,
    ReviewState,
    Version,
)
from justmaily.shared.document import replace_text, review_state
from justmaily.shared.document import texts as texts_of
from justmaily.shared.roles import Permission

# The actions of a campaign's review, in the order the editor offers them.
REVIEW_ACTIONS = (
    CampaignAction.SUBMIT,
    CampaignAction.WITHDRAW,
    CampaignAction.APPROVE,
    CampaignAction.SEND_BACK,
)


class CampaignEvents:
    """What can change, one topic each (see `notify.Topic`)."""

    def __init__(self) -> None:
        self.status = Topic()  # the connection, the pending count, whether this copy may be edited
        self.peers = Topic()  # who else is here, their carets
        self.texts = Topic()  # any of the document's texts
        self.comments = Topic()  # the comment threads
        self.versions = Topic()  # the list of versions
        self.campaign = Topic()  # the campaign's row: status, a send-back's reason


class OpenCampaign:
    def __init__(
        self,
        campaign: Campaign,
        sync: CampaignSync,
        api: ApiClient,
        *,
        may: Callable[[Permission], bool],
        author: dict[str, str],
    ) -> None:
        self.campaign = campaign
        self.sync = sync
        self.api = api
        self.may = may  # the role's permissions, which can change while the campaign is open
        self.author = author  # {"author_id", "author_name"} of comments written here
        self.versions: list[Version] = []
        self.events = CampaignEvents()
        self.consent = EditConsent()  # asked before the first edit of a campaign under review
        # Undo and redo are the user's own edits only: others' typing is never undone.
        self.history = UndoManager(scopes=[sync.text(n) for n in TEXT_FIELDS], capture_timeout_millis=500)
        self.history.include_origin(LOCAL)
        self._remote_comments = comments.Remote(api, sync)
        self._followed_state: ReviewState | None = None
        self._state_changed = Topic()  # the document's review state (the `campaign` map)
        self._unsubscribe = [
            sync.status_changed.subscribe(self.events.status.emit),
            sync.presence.changed.subscribe(self.events.peers.emit),
        ]
        doc = sync.doc
        self._shared = [sync.text(name) for name in TEXT_FIELDS]
        self._shared_maps = [doc.get(COMMENTS, type=Map), doc.get(CAMPAIGN_STATE, type=Map)]
        self._subscriptions: list[tuple[Any, Subscription]] = [
            *((shared, shared.observe(lambda _event: self.events.texts.emit())) for shared in self._shared),
            (self._shared_maps[0], self._shared_maps[0].observe(lambda _event: self.events.comments.emit())),
            (self._shared_maps[1], self._shared_maps[1].observe(lambda _event: self._state_changed.emit())),
        ]
        self._unsubscribe.append(self._state_changed.subscribe(self._follow_review_state))
        self._follow_review_state()

    @property
    def id(self) -> uuid.UUID:
        return self.campaign.id

    def close(self) -> None:
        """Stop following the document (the campaign's sync is closed by its account)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        for shared, subscription in self._subscriptions:
            shared.unobserve(subscription)
        self._subscriptions = []

    # What this copy may do ---------------------------------------------------------------------

    @property
    def can_edit(self) -> bool:
        return not self.sync.read_only and self.may(Permission.CAMPAIGNS_WRITE)

    @property
    def may_comment(self) -> bool:
        """Who may edit writes comments into the document; who may only comment asks the server."""
        return self.can_edit or self.may(Permission.CAMPAIGNS_COMMENT)

    # The texts ---------------------------------------------------------------------------------

    def shared(self, field: str) -> Text:
        """The document's text `field`, to follow its changes (`observe`); change it with `set_text`."""
        return self.sync.text(field)

    def texts(self) -> dict[str, str]:
        return texts_of(self.sync.doc)

    def set_text(self, field: str, new: str) -> None:
        """Make the text `field` say `new`, by the smallest edit of the run that changed, in one
        transaction (raises `DesktopError` for a role that may not edit)."""
        shared = self.sync.text(field)
        self.sync.edit(lambda _doc: replace_text(shared, new))

    def edit_question(self) -> str | None:
        """What to ask before an edit now (it voids the review), or None: edit at once."""
        return self.consent.question(self.campaign.status)

    def agree_to_edit(self, status: CampaignStatus) -> None:
        """The user agreed to edit the campaign in `status` (the one asked about): not asked again
        while it stays in that status."""
        self.consent.grant(status)

    def undo(self) -> None:
        if self.can_edit:
            self.history.undo()

    def redo(self) -> None:
        if self.can_edit:
            self.history.redo()

    # Presence ----------------------------------------------------------------------------------

    @property
    def me(self) -> dict[str, str]:
        """How others see us ({"id", "name", "color"})."""
        return self.sync.presence.user

    def peers(self) -> list[Peer]:
        return self.sync.peers()

    def set_cursor(self, field: str | None, anchor: int | None = None, head: int | None = None) -> None:
        """Our caret and selection in `field` (UTF-8 offsets), for others to see."""
        self.sync.set_cursor(field, anchor, head)

    # Review ------------------------------------------------------------------------------------

    def review_actions(self) -> list[CampaignAction]:
        """The review actions the role may take (the server enforces the same table)."""
        return [action for action in REVIEW_ACTIONS if self.may(TRANSITIONS[action].permission)]

    def allows(self, action: CampaignAction) -> bool:
        """Whether `action` applies to the campaign's status now."""
        return self.campaign.status in TRANSITIONS[action].sources

    async def transition(self, action: CampaignAction, reason: str = "") -> None:
        self._show(await self.api.transition(self.campaign.id, action, reason=reason))

    async def refresh(self) -> None:
        """Read the campaign's row again."""
        self._show(await self.api.campaign(self.campaign.id))

    def _show(self, campaign: Campaign) -> None:
        if campaign != self.campaign:
            self.campaign = campaign
            self.events.campaign.emit_now()

    def _follow_review_state(self) -> None:
        """The server writes the campaign's status (and a send-back's reason) into the document:
        follow a change at once, also offline, before the row is read again."""
        state = review_state(self.sync.doc)
        # Only a change of the map counts: the row read over REST may be newer than a map the
        # server has not rewritten yet (what the sending worker sets reaches it later).
        if state == self._followed_state:
            return
        self._followed_state = state
        try:
            status = CampaignStatus(state.status) if state.status else None
        except ValueError:
            return
        reason = state.sent_back_reason or None
        if status is None or (status, reason) == (self.campaign.status, self.campaign.sent_back_reason):
            return
        self._show(msgspec.structs.replace(self.campaign, status=status, sent_back_reason=reason))

    # Comments ----------------------------------------------------------------------------------

    def threads(self) -> list[comments.Thread]:
        return comments.threads(self.sync.doc)

    async def add_comment(self, words: str, start: int, end: int) -> Comment:
        """A new thread on the body's range [start, end) (UTF-8 offsets)."""
        if self.can_edit:
            return comments.add_comment(self.sync, body_text=words, start=start, end=end, **self.author)
        return await self._remote_comments.add_comment(body_text=words, start=start, end=end)

    async def reply(self, thread: Comment, words: str) -> Comment:
        if self.can_edit:
            return comments.reply(self.sync, thread, body_text=words, **self.author)
        return await self._remote_comments.reply(thread, body_text=words)

    async def set_resolved(self, thread: Comment, *, resolved: bool) -> Comment:
        if self.can_edit:
            return comments.set_resolved(self.sync, thread, resolved=resolved)
        return await self._remote_comments.set_resolved(thread, resolved=resolved)

    # Versions ----------------------------------------------------------------------------------

    async def load_versions(self) -> None:
        self.versions = await self.api.versions(self.campaign.id)
        self.events.versions.emit_now()

    async def create_version(self, name: str) -> None:
        await self.api.create_version(self.campaign.id, name)
        await self.load_versions()

    async def version_content(self, version: Version) -> CampaignContent:
        return await self.api.version_content(self.campaign.id, version.id)

    async def restore(self, version_id: uuid.UUID) -> None:
        """Make the texts what the version says, as new edits (an edit: ask `edit_question` first)."""
        await self.api.restore_version(self.campaign.id, version_id)
        await self.refresh()
