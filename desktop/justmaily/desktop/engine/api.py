"""The desktop's client of the JustMaily REST API: typed calls, token refresh, readable errors.

Every failure becomes a `DesktopError` whose message can be shown to a person as it is: the
server's problem+json detail, or what went wrong with the connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
import httpx
import msgspec

from justmaily.desktop.engine.errors import UNREADABLE, DesktopError, ErrorKind
from justmaily.shared.auth import LoginRequest, Me, RefreshRequest, TokenPair
from justmaily.shared.campaigns import (
    Campaign,
    CampaignAction,
    CampaignCreate,
    CampaignStatus,
    TransitionRequest,
)
from justmaily.shared.collaboration import (
    CampaignContent,
    Comment,
    CommentCreate,
    CommentResolve,
    ContentPatch,
    ReplyCreate,
    RoomTicket,
    Version,
    VersionCreate,
)
from justmaily.shared.ops import PerformanceSnapshot, SloReport
from justmaily.shared.pagination import Page
from justmaily.shared.problems import Problem
from justmaily.shared.trust import (
    CampaignCertificate,
    ConsistencyProof,
    InclusionProof,
    LogEntry,
    LogKey,
    TreeHead,
)

T = TypeVar("T")


_KIND_BY_STATUS = {
    401: ErrorKind.SIGNED_OUT,
    403: ErrorKind.FORBIDDEN,
    404: ErrorKind.NOT_FOUND,
    408: ErrorKind.BUSY,
    409: ErrorKind.CONFLICT,
    412: ErrorKind.CONFLICT,
    429: ErrorKind.BUSY,
    503: ErrorKind.BUSY,
}


def normalise_server_url(address: str) -> str:
    """`localhost:8000` -> `http://localhost:8000`; refuses what cannot be a server address."""
    typed = address.strip()
    if not typed:
        raise DesktopError(ErrorKind.BAD_ADDRESS, "Enter the server address, e.g. https://mail.example.com")
    address = typed if "://" in typed else f"http://{typed}"
    parts = urlsplit(address)
    try:
        port = parts.port  # raises ValueError on a port that is not a number in 0-65535
    except ValueError:
        port = 0
    if port == 0:
        raise DesktopError(ErrorKind.BAD_ADDRESS, f"{typed!r} has an invalid port number")
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None  # "mailto:ada@example.com" would be user "mailto" at "example.com"
        or any(character.isspace() for character in address)
    ):
        raise DesktopError(
            ErrorKind.BAD_ADDRESS, f"{typed!r} is not a server address; use e.g. https://mail.example.com"
        )
    return address.rstrip("/")


def _problem_message(response: httpx.Response) -> tuple[str, str]:
    try:
        problem = msgspec.json.decode(response.content, type=Problem)
    except msgspec.DecodeError:
        return "", f"The server answered {response.status_code} {response.reason_phrase}"
    message = problem.detail or problem.title
    if problem.errors:
        message += ": " + "; ".join(
            f"{error.field}: {error.message}" if error.field else error.message for error in problem.errors
        )
    return problem.code, message


class ApiClient:
    """One signed-in account on one server. Tokens live in memory; `on_tokens` persists them."""

    def __init__(
        self,
        server: str,
        *,
        refresh_token: str | None = None,
        on_tokens: Callable[[TokenPair], Awaitable[None]] | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.server = normalise_server_url(server)
        self.refresh_token = refresh_token
        self.access_token: str | None = None
        self.tokens: TokenPair | None = None
        self.on_tokens = on_tokens
        # Called when the server refuses the refresh token (revoked, expired): sign in again.
        self.on_signed_out: Callable[[], None] | None = None
        self._refreshing = anyio.Lock()
        self._http = httpx.AsyncClient(base_url=self.server, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    # Sign-in ---------------------------------------------------------------------------------

    async def sign_in(self, email: str, password: str, workspace: str | None = None) -> TokenPair:
        body = LoginRequest(email=email, password=password, workspace=workspace)
        pair: TokenPair = await self._send("POST", "/api/auth/login", body=body, type_=TokenPair, auth=False)
        await self._accept(pair)
        return pair

    async def refresh(self) -> TokenPair:
        async with self._refreshing:
            return await self._refresh()

    async def _renew(self, stale: str | None) -> None:
        """Refresh because the access token `stale` is missing or refused, once for all the calls
        that found it so: refresh tokens rotate, and the server takes a second use of one for a
        replay and ends the sign-in."""
        async with self._refreshing:
            if self.access_token is not None and self.access_token != stale:
                return  # another call refreshed meanwhile
            await self._refresh()

    async def _refresh(self) -> TokenPair:
        if not self.refresh_token:
            raise DesktopError(ErrorKind.SIGNED_OUT, "You are signed out: sign in again")
        body = RefreshRequest(refresh_token=self.refresh_token)
        try:
            pair: TokenPair = await self._send(
                "POST", "/api/auth/refresh", body=body, type_=TokenPair, auth=False
            )
        except DesktopError as exc:
            if exc.kind is ErrorKind.SIGNED_OUT:
                self.refresh_token = self.access_token = None
                if self.on_signed_out is not None:
                    self.on_signed_out()
            raise
        await self._accept(pair)
        return pair

    async def sign_out(self) -> None:
        if self.refresh_token:
            await self._call(
                "POST", "/api/auth/logout", body=RefreshRequest(refresh_token=self.refresh_token)
            )
        self.refresh_token = self.access_token = None

    async def _accept(self, pair: TokenPair) -> None:
        self.tokens, self.access_token, self.refresh_token = pair, pair.access_token, pair.refresh_token
        if self.on_tokens is not None:
            await self.on_tokens(pair)

    # Calls -----------------------------------------------------------------------------------

    async def me(self) -> Me:
        return await self._send("GET", "/api/auth/me", type_=Me)

    async def campaigns(
        self,
        *,
        search: str | None = None,
        status: CampaignStatus | None = None,
        archived: bool = False,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page[Campaign]:
        params: dict[str, Any] = {"limit": limit, "archived": str(archived).lower()}
        if search:
            params["q"] = search
        if status is not None:
            params["status"] = status.value
        if cursor:
            params["cursor"] = cursor
        return await self._send("GET", "/api/campaigns", params=params, type_=Page[Campaign])

    async def campaign(self, campaign_id: uuid.UUID) -> Campaign:
        return await self._send("GET", f"/api/campaigns/{campaign_id}", type_=Campaign)

    async def create_campaign(self, data: CampaignCreate) -> Campaign:
        return await self._send("POST", "/api/campaigns", body=data, type_=Campaign)

    async def set_archived(self, campaign_id: uuid.UUID, *, archived: bool) -> Campaign:
        action = "archive" if archived else "unarchive"
        return await self._send("POST", f"/api/campaigns/{campaign_id}/{action}", type_=Campaign)

    async def transition(
        self, campaign_id: uuid.UUID, action: CampaignAction, *, reason: str = ""
    ) -> Campaign:
        body = TransitionRequest(action=action, reason=reason)
        return await self._send(
            "POST", f"/api/campaigns/{campaign_id}/transitions", body=body, type_=Campaign
        )

    async def content(self, campaign_id: uuid.UUID) -> CampaignContent:
        return await self._send("GET", f"/api/campaigns/{campaign_id}/content", type_=CampaignContent)

    async def change_content(self, campaign_id: uuid.UUID, patch: ContentPatch) -> CampaignContent:
        return await self._send(
            "PATCH", f"/api/campaigns/{campaign_id}/content", body=patch, type_=CampaignContent
        )

    async def add_comment(self, campaign_id: uuid.UUID, data: CommentCreate) -> Comment:
        path = f"/api/campaigns/{campaign_id}/comments"
        return await self._send("POST", path, body=data, type_=Comment)

    async def reply_to_comment(self, campaign_id: uuid.UUID, comment_id: str, data: ReplyCreate) -> Comment:
        path = f"/api/campaigns/{campaign_id}/comments/{comment_id}/replies"
        return await self._send("POST", path, body=data, type_=Comment)

    async def resolve_comment(self, campaign_id: uuid.UUID, comment_id: str, data: CommentResolve) -> Comment:
        path = f"/api/campaigns/{campaign_id}/comments/{comment_id}/resolve"
        return await self._send("POST", path, body=data, type_=Comment)

    async def versions(self, campaign_id: uuid.UUID) -> list[Version]:
        return await self._send("GET", f"/api/campaigns/{campaign_id}/versions", type_=list[Version])

    async def create_version(self, campaign_id: uuid.UUID, name: str) -> Version:
        body = VersionCreate(name=name)
        return await self._send("POST", f"/api/campaigns/{campaign_id}/versions", body=body, type_=Version)

    async def version_content(self, campaign_id: uuid.UUID, version_id: uuid.UUID) -> CampaignContent:
        path = f"/api/campaigns/{campaign_id}/versions/{version_id}"
        return await self._send("GET", path, type_=CampaignContent)

    async def restore_version(self, campaign_id: uuid.UUID, version_id: uuid.UUID) -> CampaignContent:
        path = f"/api/campaigns/{campaign_id}/versions/{version_id}/restore"
        return await self._send("POST", path, type_=CampaignContent)

    async def room_ticket(self, campaign_id: uuid.UUID) -> RoomTicket:
        return await self._send("POST", f"/api/campaigns/{campaign_id}/room-ticket", type_=RoomTicket)

    # Transparency log (docs/trust.md): what the trust monitor checks ------------------------

    async def log_key(self) -> LogKey:
        return await self._send("GET", "/api/transparency/key", type_=LogKey)

    async def tree_head(self) -> TreeHead:
        return await self._send("GET", "/api/transparency/tree-head", type_=TreeHead)

    async def tree_heads(self, *, limit: int = 50, cursor: str | None = None) -> Page[TreeHead]:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return await self._send("GET", "/api/transparency/tree-heads", params=params, type_=Page[TreeHead])

    async def log_entry(self, index: int) -> LogEntry:
        return await self._send("GET", f"/api/transparency/entries/{index}", type_=LogEntry)

    async def inclusion_proof(self, index: int, tree_size: int | None = None) -> InclusionProof:
        params = {"tree_size": tree_size} if tree_size is not None else None
        path = f"/api/transparency/entries/{index}/inclusion"
        return await self._send("GET", path, params=params, type_=InclusionProof)

    async def consistency_proof(self, first: int, second: int) -> ConsistencyProof:
        params = {"first": first, "second": second}
        return await self._send("GET", "/api/transparency/consistency", params=params, type_=ConsistencyProof)

    async def certificates(self, *, limit: int = 100) -> list[CampaignCertificate]:
        """The workspace's campaign certificates, newest first, with their status."""
        params = {"limit": limit}
        return await self._send(
            "GET", "/api/transparency/certificates", params=params, type_=list[CampaignCertificate]
        )

    # Operations (owners and admins): the performance view -----------------------------------

    async def performance(self) -> PerformanceSnapshot:
        return await self._send("GET", "/api/ops/performance", type_=PerformanceSnapshot)

    async def slo_report(self) -> SloReport:
        return await self._send("GET", "/api/ops/slo", type_=SloReport)

    # Transport -------------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        type_: type[T],
        body: msgspec.Struct | None = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
    ) -> T:
        response = await self._call(method, path, body=body, params=params, auth=auth)
        try:
            return msgspec.json.decode(response.content, type=type_)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DesktopError(
                ErrorKind.SERVER,
                f"The server sent an answer this app does not understand ({exc})",
                status=response.status_code,
                code=UNREADABLE,
            ) from exc

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: msgspec.Struct | None = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
    ) -> httpx.Response:
        if auth and self.access_token is None:
            await self._renew(None)
        sent_with = self.access_token
        response = await self._request(method, path, body, params, auth=auth)
        if response.status_code == 401 and auth:
            await self._renew(sent_with)  # the access token expired: one refresh, one retry
            response = await self._request(method, path, body, params, auth=auth)
        if response.status_code < 400:
            return response
        code, message = _problem_message(response)
        status = response.status_code
        if status == 401 and path.endswith("/refresh"):
            message = "Your sign-in has ended: sign in again"
        kind = _KIND_BY_STATUS.get(status) or (ErrorKind.SERVER if status >= 500 else ErrorKind.INVALID)
        raise DesktopError(kind, message, status=status, code=code)

    async def _request(
        self,
        method: str,
        path: str,
        body: msgspec.Struct | None,
        params: dict[str, Any] | None,
        *,
        auth: bool,
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if auth and self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        content = None
        if body is not None:
            content = msgspec.json.encode(body)
            headers["Content-Type"] = "application/json"
        try:
            return await self._http.request(method, path, content=content, params=params, headers=headers)
        except httpx.TimeoutException as exc:
            raise DesktopError(ErrorKind.UNREACHABLE, f"{self.server} did not answer in time") from exc
        except httpx.DecodingError as exc:  # e.g. a body that is not the gzip its header says
            raise DesktopError(
                ErrorKind.SERVER, f"The server sent an answer this app cannot decode ({exc})", code=UNREADABLE
            ) from exc
        except httpx.TransportError as exc:
            raise DesktopError(
                ErrorKind.UNREACHABLE, f"Cannot reach {self.server}: is the server running? ({exc})"
            ) from exc
