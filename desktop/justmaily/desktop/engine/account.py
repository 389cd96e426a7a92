"""A signed-in account: its API client, offline store, remembered sign-in and open campaigns.

An account resumes without the network (from the remembered profile and the local store), so the
app starts and edits offline; the first call that needs the server refreshes the sign-in.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from pathlib import Path

import anyio
import msgspec
import platformdirs

from justmaily.desktop.engine.api import ApiClient
from justmaily.desktop.engine.campaign import OpenCampaign
from justmaily.desktop.engine.credentials import Credentials, Profile
from justmaily.desktop.engine.errors import DesktopError, ErrorKind
from justmaily.desktop.engine.local_store import LocalStore
from justmaily.desktop.engine.room_client import Timing
from justmaily.desktop.engine.sync import CampaignSync
from justmaily.desktop.engine.trust_monitor import TrustMonitor
from justmaily.shared.auth import TokenPair
from justmaily.shared.campaigns import Campaign, CampaignCreate, CampaignStatus
from justmaily.shared.collaboration import TEXT_FIELDS, ContentPatch
from justmaily.shared.document import texts
from justmaily.shared.roles import Permission, permissions_of

# Readable on light and dark backgrounds; one per person, chosen from their id.
PALETTE = ("#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#dc2626", "#0891b2", "#65a30d")


def colour_for(user_key: str) -> str:
    return PALETTE[int(hashlib.sha256(user_key.encode()).hexdigest(), 16) % len(PALETTE)]


class Paths(msgspec.Struct, frozen=True):
    config: Path
    data: Path

    @classmethod
    def default(cls) -> Paths:
        """The user's config and data directories; `JUSTMAILY_DESKTOP_HOME` puts both under one."""
        home = os.environ.get("JUSTMAILY_DESKTOP_HOME")
        if home:
            return cls(Path(home) / "config", Path(home) / "data")
        return cls(
            Path(platformdirs.user_config_dir("justmaily")), Path(platformdirs.user_data_dir("justmaily"))
        )


class Account:
    def __init__(
        self,
        session: Profile,
        api: ApiClient,
        store: LocalStore,
        credentials: Credentials,
        timing: Timing,
        trust: TrustMonitor,
    ) -> None:
        self.session = session
        self.api = api
        self.store = store
        self.trust = trust  # the server's transparency log, checked for forks
        self.credentials = credentials
        self.timing = timing
        self.open_campaigns: dict[uuid.UUID, CampaignSync] = {}
        # Set when the server refuses the remembered sign-in (revoked, expired): sign in again.
        self.sign_in_ended = anyio.Event()
        self._closed = False
        self._opening: dict[uuid.UUID, anyio.Lock] = {}

    # Signing in and out ----------------------------------------------------------------------

    @classmethod
    async def sign_in(
        cls,
        server: str,
        email: str,
        password: str,
        *,
        workspace: str | None = None,
        paths: Paths | None = None,
        credentials: Credentials | None = None,
        timing: Timing | None = None,
    ) -> Account:
        paths = paths or Paths.default()
        credentials = credentials or Credentials(paths.config)
        api = ApiClient(server)
        try:
            pair = await api.sign_in(email.strip(), password, workspace)
            me = await api.me()
        except BaseException:
            await api.aclose()
            raise
        session = Profile(
            server=api.server,
            email=email.strip(),
            workspace=pair.workspace,
            role=pair.role,
            user_id=str(me.id),
            display_name=me.display_name or email,
            workspaces=[w.workspace for w in pair.workspaces],
        )
        account = await cls._open(session, api, paths, credentials, timing)
        await account._remember(pair)
        return account

    @classmethod
    async def resume(
        cls,
        *,
        paths: Paths | None = None,
        credentials: Credentials | None = None,
        timing: Timing | None = None,
    ) -> Account | None:
        """The remembered account, without the network; None when nobody is remembered."""
        paths = paths or Paths.default()
        credentials = credentials or Credentials(paths.config)
        profile = credentials.profile()
        if profile is None or profile.workspace is None or profile.role is None:
            return None
        token = credentials.refresh_token(profile)
        if token is None:
            return None
        api = ApiClient(profile.server, refresh_token=token)
        return await cls._open(profile, api, paths, credentials, timing)

    @classmethod
    async def _open(
        cls, session: Profile, api: ApiClient, paths: Paths, credentials: Credentials, timing: Timing | None
    ) -> Account:
        key = hashlib.sha256(f"{session.server}|{session.email}|{session.workspace}".encode()).hexdigest()[
            :16
        ]
        folder = paths.data / "accounts" / key
        store = await LocalStore.open(folder / "store.sqlite3")
        trust = await TrustMonitor.open(api, folder / "trust.sqlite3")
        account = cls(session, api, store, credentials, timing or Timing(), trust)
        api.on_tokens = account._remember
        api.on_signed_out = account._sign_in_refused
        return account

    async def _remember(self, pair: TokenPair) -> None:
        self.session.role = pair.role
        self.credentials.remember(self.session, pair.refresh_token)

    def _sign_in_refused(self) -> None:
        """The server no longer takes our refresh token: forget it (the profile stays, to fill in
        the sign-in form), so the next start asks for the password instead of failing again."""
        self.credentials.forget_token(self.session)
        self.sign_in_ended.set()

    async def sign_out(self) -> None:
        # Offline or already ended: forgetting the token locally is what matters.
        with contextlib.suppress(DesktopError):
            await self.api.sign_out()
        profile = self.credentials.profile()
        if profile is not None:
            self.credentials.forget_token(profile)
        await self.close()

    async def close(self) -> None:
        """Flush and let go of everything; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        for campaign_id in list(self._opening):  # also those a closing tab is closing now
            await self.close_campaign(campaign_id)
        await self.trust.close()  # before the client it calls goes
        await self.api.aclose()
        await self.store.close()

    # What the role may do --------------------------------------------------------------------

    @property
    def permissions(self) -> frozenset[Permission]:
        return permissions_of(self.session.role) if self.session.role else frozenset()

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def presence(self) -> dict[str, str]:
        key = self.session.user_id or self.session.email
        return {"id": key, "name": self.session.display_name or self.session.email, "color": colour_for(key)}

    # Campaigns -------------------------------------------------------------------------------

    async def campaigns(
        self, *, search: str = "", status: CampaignStatus | None = None, archived: bool = False
    ) -> tuple[list[Campaign], bool]:
        """The campaigns matching the filters, and whether the list is live (False: from the
        local store, because the server is unreachable)."""
        try:
            page = await self.api.campaigns(
                search=search or None, status=status, archived=archived, limit=200
            )
        except DesktopError as exc:
            if exc.kind is not ErrorKind.UNREACHABLE:
                raise
            cached = await self.store.campaigns()
            needle = search.casefold()
            return [
                c
                for c in cached
                if (status is None or c.status == status)
                and (c.archived_at is not None) == archived
                and (not needle or needle in c.name.casefold() or needle in c.subject.casefold())
            ], False
        await self.store.save_campaigns(page.items)
        return page.items, True

    async def create(self, name: str) -> Campaign:
        campaign = await self.api.create_campaign(CampaignCreate(name=name))
        await self.store.save_campaigns([campaign])
        return campaign

    async def duplicate(self, source: Campaign) -> Campaign:
        """A new draft with the source's texts (comments and history stay with the original)."""
        values = await self._texts_of(source.id)
        copy = await self.api.create_campaign(CampaignCreate(name=f"Copy of {source.name}"[:200]))
        patch = msgspec.convert(
            {name: values[name] for name in TEXT_FIELDS if values.get(name)}, ContentPatch
        )
        await self.api.change_content(copy.id, patch)
        copy = await self.api.campaign(copy.id)
        await self.store.save_campaigns([copy])
        return copy

    async def set_archived(self, campaign: Campaign, *, archived: bool) -> Campaign:
        changed = await self.api.set_archived(campaign.id, archived=archived)
        await self.store.save_campaigns([changed])
        return changed

    async def _texts_of(self, campaign_id: uuid.UUID) -> dict[str, str]:
        sync = self.open_campaigns.get(campaign_id)
        if sync is not None:
            return texts(sync.doc)
        content = await self.api.content(campaign_id)
        return {name: getattr(content, name) for name in TEXT_FIELDS}

    async def open(self, campaign_id: uuid.UUID) -> CampaignSync:
        """The campaign's document, loaded from the local store; run `sync.run()` to go live."""
        # One sync per campaign, even when it is opened twice at once: two would number their
        # local updates alike in the store.
        async with self._opening.setdefault(campaign_id, anyio.Lock()):
            sync = self.open_campaigns.get(campaign_id)
            if sync is None:
                sync = CampaignSync(campaign_id, self.store, self.api, user=self.presence, timing=self.timing)
                await sync.load()
                self.open_campaigns[campaign_id] = sync
            return sync

    async def open_campaign(self, campaign: Campaign) -> OpenCampaign:
        """The campaign open for editing (`open`, with what the editor needs around the document);
        run `opened.sync.run()` to go live, `opened.close()` and `close_campaign` when done."""
        sync = await self.open(campaign.id)
        author = {"author_id": self.session.user_id, "author_name": self.presence["name"]}
        return OpenCampaign(campaign, sync, self.api, may=self.may, author=author)

    async def close_campaign(self, campaign_id: uuid.UUID) -> None:
        """Stop syncing and keep what was typed; returns once done, also when another call is
        closing it already (the store must outlive both)."""
        async with self._opening.setdefault(campaign_id, anyio.Lock()):
            sync = self.open_campaigns.pop(campaign_id, None)
            if sync is not None:
                await sync.stop()
                await sync.flush()
                sync.close()
