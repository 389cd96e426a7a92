"""The desktop's REST client: addresses, readable errors and token refresh, against a real server."""

from __future__ import annotations

import asyncio

import pytest

from justmaily.desktop.engine.api import ApiClient, normalise_server_url
from justmaily.desktop.engine.errors import DesktopError, ErrorKind
from justmaily.shared.auth import TokenPair
from justmaily.shared.campaigns import CampaignAction, CampaignCreate, CampaignStatus
from justmaily.shared.roles import Permission, Role
from tests.plugins.api import TEST_PASSWORD
from tests.plugins.live_server import Live
from tests.support.server_process import free_port

pytestmark = pytest.mark.backends("sqlite")


async def signed_in(live: Live, role: Role) -> ApiClient:
    client = ApiClient(live.url)
    try:
        await client.sign_in(live.team[role].email, TEST_PASSWORD)
    except BaseException:
        await client.aclose()
        raise
    return client


# Server addresses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "address"),
    [
        ("localhost:8000", "http://localhost:8000"),
        ("  localhost:8000/ ", "http://localhost:8000"),
        ("https://mail.example.com/", "https://mail.example.com"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_a_server_address_gets_a_scheme_and_loses_its_trailing_slash(typed: str, address: str) -> None:
    assert normalise_server_url(typed) == address


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "Enter the server address"),
        ("   ", "Enter the server address"),
        ("ftp://x", "'ftp://x' is not a server address"),
        ("http://", "'http://' is not a server address"),
        ("https://", "'https://' is not a server address"),
        ("bad host name", "'bad host name' is not a server address"),
        ("http://h:99999", "'http://h:99999' has an invalid port number"),
        ("localhost:port", "'localhost:port' has an invalid port number"),
        ("http://h:0", "'http://h:0' has an invalid port number"),
        ("mailto:ada@example.com", "'mailto:ada@example.com' is not a server address"),
    ],
)
def test_what_cannot_be_a_server_address_is_refused_with_a_reason(typed: str, says: str) -> None:
    with pytest.raises(DesktopError) as refused:
        normalise_server_url(typed)
    assert refused.value.kind is ErrorKind.BAD_ADDRESS
    assert str(refused.value).startswith(says)


def test_a_client_for_a_bad_address_is_not_built() -> None:
    with pytest.raises(DesktopError) as refused:
        ApiClient("ftp://x")
    assert refused.value.kind is ErrorKind.BAD_ADDRESS


async def test_a_server_that_is_down_is_unreachable_with_its_address_in_the_message() -> None:
    address = f"http://127.0.0.1:{free_port()}"
    client = ApiClient(address, refresh_token="kept-from-last-time", timeout=5)
    try:
        with pytest.raises(DesktopError) as signing_in:
            await client.sign_in("ada@acme.example.com", "whatever")
        with pytest.raises(DesktopError) as listing:
            await client.campaigns()  # needs a refresh first, which cannot reach the server either
    finally:
        await client.aclose()
    for refused in (signing_in.value, listing.value):
        assert refused.kind is ErrorKind.UNREACHABLE
        assert address in str(refused)
        assert refused.status is None
    assert client.refresh_token == "kept-from-last-time"  # offline is not signed out


async def test_with_no_sign_in_at_all_a_call_says_signed_out() -> None:
    client = ApiClient(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(DesktopError) as refused:
            await client.me()
    finally:
        await client.aclose()
    assert refused.value.kind is ErrorKind.SIGNED_OUT
    assert "sign in" in str(refused.value)


# Against a live server -----------------------------------------------------------------------------


async def test_signing_in_and_refreshing_tokens(live: Live) -> None:
    editor = live.team[Role.EDITOR]
    saved: list[TokenPair] = []

    async def on_tokens(pair: TokenPair) -> None:
        saved.append(pair)

    client = ApiClient(live.url, on_tokens=on_tokens)
    try:
        with pytest.raises(DesktopError) as refused:
            await client.sign_in(editor.email, "not the password")
        assert refused.value.kind is ErrorKind.SIGNED_OUT
        assert refused.value.status == 401
        assert refused.value.code == "invalid_credentials"
        assert str(refused.value) == "e-mail or password is wrong"
        assert saved == []

        pair = await client.sign_in(editor.email, TEST_PASSWORD)
        assert (pair.workspace, pair.role) == ("acme", Role.EDITOR)
        assert saved == [pair]
        me = await client.me()
        assert (me.kind, me.id, me.email, me.role) == ("user", editor.id, editor.email, Role.EDITOR)
        assert Permission.CAMPAIGNS_WRITE in me.permissions

        # The access token expired (or was lost): the call refreshes once and goes through.
        client.access_token = "garbage"
        assert (await client.me()).id == editor.id
        assert len(saved) == 2
        rotated = saved[-1]
        assert rotated.refresh_token != pair.refresh_token
        assert (client.access_token, client.refresh_token) == (rotated.access_token, rotated.refresh_token)

        # The app starts again: only the refresh token is known.
        client.access_token = None
        assert (await client.me()).id == editor.id
        assert len(saved) == 3

        # Several calls find the access token stale at once: one refresh serves them all, or the
        # server would take the second use of the same refresh token for a replay and end the
        # sign-in.
        client.access_token = "expired"
        found = await asyncio.gather(client.me(), client.campaigns(), client.me())
        assert found[0].id == found[2].id == editor.id
        assert len(saved) == 4
        assert (await client.me()).id == editor.id

        # A refresh token that was already used ends the sign-in, with a message to show.
        client.access_token, client.refresh_token = None, pair.refresh_token
        with pytest.raises(DesktopError) as ended:
            await client.me()
        assert ended.value.kind is ErrorKind.SIGNED_OUT
        assert str(ended.value) == "Your sign-in has ended: sign in again"
        assert ended.value.code == "token_reused"
    finally:
        await client.aclose()


async def test_roles_decide_what_a_client_may_do(live: Live) -> None:
    viewer = await signed_in(live, Role.VIEWER)
    editor = await signed_in(live, Role.EDITOR)
    reviewer = await signed_in(live, Role.REVIEWER)
    try:
        with pytest.raises(DesktopError) as refused:
            await viewer.create_campaign(CampaignCreate(name="Not mine to make"))
        assert refused.value.kind is ErrorKind.FORBIDDEN
        assert refused.value.status == 403
        assert str(refused.value)
        assert "Traceback" not in str(refused.value)

        draft = await editor.create_campaign(CampaignCreate(name="Spring sale", subject="Hello"))
        assert (draft.name, draft.subject, draft.status) == ("Spring sale", "Hello", CampaignStatus.DRAFT)
        assert (await viewer.campaign(draft.id)).id == draft.id

        with pytest.raises(DesktopError) as not_a_reviewer:
            await editor.transition(draft.id, CampaignAction.APPROVE)
        assert not_a_reviewer.value.kind is ErrorKind.FORBIDDEN
        assert "approve" in str(not_a_reviewer.value)

        submitted = await editor.transition(draft.id, CampaignAction.SUBMIT)
        assert submitted.status is CampaignStatus.IN_REVIEW
        approved = await reviewer.transition(draft.id, CampaignAction.APPROVE)
        assert approved.status is CampaignStatus.APPROVED
        assert approved.approved_by == live.team[Role.REVIEWER].id
        assert (await viewer.campaign(draft.id)).status is CampaignStatus.APPROVED
    finally:
        for client in (viewer, editor, reviewer):
            await client.aclose()
