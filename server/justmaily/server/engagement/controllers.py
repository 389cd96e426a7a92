"""Routes reached without signing in: open pixel, click redirect, unsubscribe, provider webhooks.

Each checks its token (HMAC, `tokens.py`) or the provider's signature before it records
anything; a bad one gets 404 (links) or 401 (webhooks) and changes nothing.
"""

from __future__ import annotations

import base64
import html
import uuid
from datetime import timedelta
from typing import Annotated, Any

import structlog
from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.audiences import repository
from justmaily.server.db.base import utcnow
from justmaily.server.db.session import transaction
from justmaily.server.delivery import examples as delivery_examples
from justmaily.server.delivery.link_tokens import BadToken, LinkTokens, TokenKind
from justmaily.server.delivery.outbox.queue import MessageRef, message_ref
from justmaily.server.engagement import service as engagement
from justmaily.server.engagement.models import WebhookSettings
from justmaily.server.engagement.webhooks.common import WebhookRejected
from justmaily.server.engagement.webhooks.sendgrid import parse_sendgrid
from justmaily.server.engagement.webhooks.ses import SnsVerifier, parse_ses
from justmaily.server.engagement.webhooks.setup import WebhookSetup
from justmaily.server.http.openapi import body, ok, problems
from justmaily.server.http.policy import public, requires
from justmaily.server.http.problems import ApiError, not_found
from justmaily.server.identity.principal import AuthedRequest
from justmaily.shared import delivery as wire
from justmaily.shared.audiences import ConsentStatus
from justmaily.shared.delivery import EventKind
from justmaily.shared.roles import Permission

log = structlog.get_logger(__name__)

# The smallest transparent GIF.
_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}
_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title></head>
<body style="font-family:Arial,Helvetica,sans-serif;max-width:32em;margin:4em auto;padding:0 1em;
color:#1f2937">
<h1 style="font-size:1.4em">{title}</h1>{body}</body></html>
"""

Token = Annotated[str, FromPath]


def _tokens(request: Request[Any, Any, Any]) -> LinkTokens:
    tokens: LinkTokens = request.app.state.link_tokens
    return tokens


def _page(title: str, body: str, status: int = 200) -> Response[str]:
    return Response(
        _PAGE.format(title=html.escape(title), body=body),
        status_code=status,
        media_type="text/html",
        headers={
            **_NO_STORE,
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        },
    )


async def _ref(request: Request[Any, Any, Any], token: str, kind: TokenKind) -> tuple[MessageRef, int]:
    try:
        data = _tokens(request).read(token, kind)
    except BadToken:
        raise not_found("link") from None
    async with transaction(request.app.state.database, read_only=True) as session:
        ref = await message_ref(session, data.subject)
    if ref is None:
        raise not_found("link")
    return ref, data.link


class TrackingController(Controller):
    """Links inside sent messages."""

    tags = ["tracking"]
    opt = public()
    include_in_schema = True

    @get(
        "/t/o/{token:str}",
        responses=problems(400, 404, signed_in=False),
        summary="Open pixel",
        media_type="image/gif",
    )
    async def open_pixel(self, request: Request[Any, Any, Any], token: Token) -> Response[bytes]:
        ref, _ = await _ref(request, token, TokenKind.OPEN)
        async with transaction(request.app.state.database) as session:
            await engagement.record(session, ref, EventKind.OPENED)
        return Response(_PIXEL, media_type="image/gif", headers=_NO_STORE)

    @get(
        "/t/c/{token:str}",
        responses=problems(400, 404, signed_in=False),
        summary="Click: record, then redirect",
        status_code=302,
    )
    async def click(self, request: Request[Any, Any, Any], token: Token) -> Redirect:
        """Redirects only to a link of the approved content, chosen by number inside the signed token."""
        ref, link = await _ref(request, token, TokenKind.CLICK)
        async with transaction(request.app.state.database) as session:
            target = await engagement.click_target(session, ref, link)
            if target is None:
                raise not_found("link")
            await engagement.record(session, ref, EventKind.CLICKED, target)
        return Redirect(target, status_code=302, headers=_NO_STORE)

    @get(
        "/u/{token:str}",
        responses=problems(400, 404, signed_in=False),
        summary="Unsubscribe page",
        media_type="text/html",
    )
    async def unsubscribe_page(self, request: Request[Any, Any, Any], token: Token) -> Response[str]:
        """A page with a button, not an unsubscribe: link scanners open every link with GET."""
        ref, _ = await _ref(request, token, TokenKind.UNSUBSCRIBE)
        async with transaction(request.app.state.database, read_only=True) as session:
            workspace, address = await engagement.unsubscribe_page_facts(session, ref)
        body = (
            f"<p>Stop e-mails from <b>{html.escape(workspace)}</b> to <b>{html.escape(address)}</b>?</p>"
            f'<form method="post" action="/u/{html.escape(token)}">'
            '<button type="submit" name="List-Unsubscribe" value="One-Click" '
            'style="font-size:1em;padding:.6em 1.2em">Unsubscribe</button></form>'
        )
        return _page("Unsubscribe", body)

    @post(
        "/u/{token:str}",
        responses=problems(400, 404, signed_in=False),
        summary="Unsubscribe (RFC 8058 one-click)",
        status_code=200,
        media_type="text/html",
    )
    async def unsubscribe(self, request: Request[Any, Any, Any], token: Token) -> Response[str]:
        """Mail clients POST `List-Unsubscribe=One-Click` here (RFC 8058); the page's button too."""
        ref, _ = await _ref(request, token, TokenKind.UNSUBSCRIBE)
        async with transaction(request.app.state.database) as session:
            form = await request.form()
            how = "one-click" if form.get("List-Unsubscribe") == "One-Click" else "unsubscribe page"
            await engagement.unsubscribe(session, ref, how)
        return _page("You are unsubscribed", "<p>You will not get these e-mails any more.</p>")


class ConfirmationController(Controller):
    """The double opt-in link: a page with a button, the button's POST, and a new link when the
    old one expired (`JUSTMAILY_CONFIRMATION_LINK_TTL_SECONDS` after its e-mail went out)."""

    tags = ["tracking"]
    opt = public()

    @get(
        "/c/{token:str}",
        responses=problems(400, 404, signed_in=False),
        summary="Double opt-in page",
        media_type="text/html",
    )
    async def confirmation_page(self, request: Request[Any, Any, Any], token: Token) -> Response[str]:
        """A page with a button, not the confirmation: link scanners open every link with GET."""
        confirmation_id = _confirmation(request, token)
        async with transaction(request.app.state.database, read_only=True) as session:
            link = await repository.confirmation_link(session, confirmation_id)
        if link is None:
            raise not_found("link")
        if _expired(request, link):
            return _expired_page(request, token, link)
        body = (
            f"<p>Subscribe <b>{html.escape(engagement.mask(link.contact.email))}</b>?</p>"
            f'<form method="post" action="/c/{html.escape(token)}">'
            '<button type="submit" style="font-size:1em;padding:.6em 1.2em">Yes, subscribe me</button></form>'
        )
        return _page("Confirm your subscription", body)

    @post(
        "/c/{token:str}",
        responses=problems(400, 404, signed_in=False),
        summary="Confirm a subscription (double opt-in)",
        status_code=200,
        media_type="text/html",
    )
    async def confirm(self, request: Request[Any, Any, Any], token: Token) -> Response[str]:
        confirmation_id = _confirmation(request, token)
        async with transaction(request.app.state.database) as session:
            link = await repository.confirmation_link(session, confirmation_id)
            if link is None:
                raise not_found("link")
            if _expired(request, link):
                return _expired_page(request, token, link)
            confirmed = await repository.confirm(session, confirmation_id)
        if confirmed:
            return _page("You are subscribed", "<p>Thank you: your subscription is confirmed.</p>")
        return _nothing_to_confirm()

    @post(
        "/c/{token:str}/renew",
        responses=problems(400, 404, signed_in=False),
        summary="Send a new double opt-in link in place of an expired one",
        status_code=200,
        media_type="text/html",
    )
    async def renew(self, request: Request[Any, Any, Any], token: Token) -> Response[str]:
        """Only for an expired link of a contact still pending, and once per link: the new e-mail
        goes to the same address, so the link's holder can get no more than a resend."""
        confirmation_id = _confirmation(request, token)
        async with transaction(request.app.state.database) as session:
            link = await repository.confirmation_link(session, confirmation_id)
            if link is None:
                raise not_found("link")
            if link.contact.consent is not ConsentStatus.PENDING:
                return _nothing_to_confirm()
            if not _expired(request, link):
                return _page(
                    "This link still works", f'<p>Open <a href="/c/{html.escape(token)}">it</a> again.</p>'
                )
            if not link.superseded:
                await repository.request_confirmation(session, link.workspace_id, link.contact.id)
        address = html.escape(engagement.mask(link.contact.email))
        return _page(
            "A new link is on its way",
            f"<p>We are sending a new confirmation link to <b>{address}</b>: open it within "
            f"{_lasts(request)}.</p>",
        )


def _confirmation(request: Request[Any, Any, Any], token: str) -> uuid.UUID:
    try:
        return _tokens(request).read(token, TokenKind.CONFIRM).subject
    except BadToken:
        raise not_found("link") from None


def _link_ttl(request: Request[Any, Any, Any]) -> timedelta:
    return timedelta(seconds=request.app.state.settings.delivery.confirmation_link_ttl_seconds)


def _expired(request: Request[Any, Any, Any], link: repository.ConfirmationLink) -> bool:
    """Expiry matters only while there is something to confirm."""
    pending = link.contact.consent is ConsentStatus.PENDING
    return pending and link.issued_at + _link_ttl(request) <= utcnow()


def _lasts(request: Request[Any, Any, Any]) -> str:
    hours = _link_ttl(request).total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 48 else f"{hours:g} hours"


def _expired_page(
    request: Request[Any, Any, Any], token: str, link: repository.ConfirmationLink
) -> Response[str]:
    body = (
        f"<p>Confirmation links work for {_lasts(request)}, and this one is older: nothing was changed.</p>"
        f"<p>To subscribe <b>{html.escape(engagement.mask(link.contact.email))}</b>, ask for a new link; "
        "it comes by e-mail to the same address.</p>"
        f'<form method="post" action="/c/{html.escape(token)}/renew">'
        '<button type="submit" style="font-size:1em;padding:.6em 1.2em">Send me a new link</button></form>'
    )
    return _page("This link has expired", body, status=410)


def _nothing_to_confirm() -> Response[str]:
    return _page("Nothing to confirm", "<p>This address is subscribed already, or asked not to be.</p>")


class ProviderHooksController(Controller):
    """Bounce and complaint notifications from e-mail providers, verified by their signatures."""

    path = "/hooks/{workspace_id:uuid}"
    tags = ["tracking"]
    opt = public()

    @post(
        "/sendgrid",
        status_code=200,
        responses=ok(dict[str, int], {"recorded": 2}) | problems(400, 401, 404, 413, signed_in=False),
        summary="SendGrid event webhook",
    )
    async def sendgrid(
        self, request: Request[Any, Any, Any], workspace_id: FromPath[uuid.UUID]
    ) -> dict[str, int]:
        settings = await _hook_settings(request, workspace_id)
        if not settings.sendgrid_public_key:
            raise not_found("webhook")
        try:
            events = parse_sendgrid(
                await request.body(), request.headers, settings.sendgrid_public_key, utcnow()
            )
        except WebhookRejected as exc:
            raise _rejected(exc) from None
        return await _apply(request, workspace_id, events)

    @post(
        "/ses",
        status_code=200,
        responses=ok(dict[str, int], {"recorded": 2}) | problems(400, 401, 404, 413, signed_in=False),
        summary="Amazon SES notifications via SNS",
    )
    async def ses(self, request: Request[Any, Any, Any], workspace_id: FromPath[uuid.UUID]) -> dict[str, int]:
        settings = await _hook_settings(request, workspace_id)
        if not settings.ses_topic_arns:
            raise not_found("webhook")
        verifier: SnsVerifier = request.app.state.sns_verifier
        try:
            message = await verifier.verify(
                await request.body(), allowed_topic_arns=frozenset(settings.ses_topic_arns)
            )
        except WebhookRejected as exc:
            raise _rejected(exc) from None
        if message.type != "Notification":
            # Confirming a subscription is the admin's step: the URL is in our log, not followed.
            log.warning(
                "SNS subscription needs confirming", topic=message.topic_arn, url=message.subscribe_url
            )
            return {"recorded": 0}
        try:
            events = parse_ses(message)
        except WebhookRejected as exc:
            raise _rejected(exc) from None
        return await _apply(request, workspace_id, events)


async def _hook_settings(request: Request[Any, Any, Any], workspace_id: uuid.UUID) -> WebhookSettings:
    async with transaction(request.app.state.database, read_only=True) as session:
        settings = await session.get(WebhookSettings, workspace_id)
    if settings is None:
        raise not_found("webhook")
    return settings


async def _apply(
    request: Request[Any, Any, Any], workspace_id: uuid.UUID, events: list[Any]
) -> dict[str, int]:
    async with transaction(request.app.state.database) as session:
        recorded = await engagement.apply_provider_events(session, workspace_id, events)
    return {"recorded": recorded}


def _rejected(exc: WebhookRejected) -> ApiError:
    status = {"too_large": 413, "malformed": 400}.get(exc.code, 401)
    return ApiError(status, f"webhook_{exc.code}", exc.reason)


class WebhookSettingsController(Controller):
    """Admins' side of the provider webhooks: how their reports are verified."""

    path = "/api/delivery"
    tags = ["delivery"]

    @get(
        "/webhooks",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=ok(wire.WebhookSettings, delivery_examples.WEBHOOKS) | problems(),
        summary="How bounce and complaint webhooks are verified",
    )
    async def get_webhooks(
        self, request: AuthedRequest, db_session: NamedDependency[AsyncSession]
    ) -> wire.WebhookSettings:
        return await WebhookSetup(db_session, request.user.workspace_id).webhook_settings()

    @put(
        "/webhooks",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=ok(wire.WebhookSettings, delivery_examples.WEBHOOKS) | problems(400, 422),
        summary="Set the SendGrid verification key and the SNS topics to accept",
    )
    async def set_webhooks(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        data: Annotated[
            wire.WebhookSettings,
            body("SES topic", {"ses_topic_arns": ["arn:aws:sns:eu-west-1:123456789012:ses-bounces"]}),
        ],
    ) -> wire.WebhookSettings:
        return await WebhookSetup(db_session, request.user.workspace_id).set_webhook_settings(data)
