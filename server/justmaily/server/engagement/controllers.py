"""Routes reached without signing in: open pixel, click redirect, unsubscribe, double opt-in,
provider webhooks; and the admins' webhook settings.

Each checks its token (HMAC, `delivery/link_tokens.py`) or the provider's signature before it
records anything (links.py, webhooks/hooks.py); a bad one gets 404 (links) or 401 (webhooks)
and changes nothing. The handlers render the pages.
"""

from __future__ import annotations

import base64
import html
import uuid
from datetime import timedelta
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.response import Redirect

from justmaily.server.audiences.repository import ConfirmationLink
from justmaily.server.delivery import examples as delivery_examples
from justmaily.server.delivery.link_tokens import TokenKind
from justmaily.server.engagement import deps
from justmaily.server.engagement import service as engagement
from justmaily.server.engagement.links import ConfirmationService, Renewal, TrackingService
from justmaily.server.engagement.webhooks.hooks import ProviderHooks
from justmaily.server.engagement.webhooks.setup import WebhookSetup
from justmaily.server.http.openapi import body, ok, problems
from justmaily.server.http.policy import public, requires
from justmaily.shared import delivery as wire
from justmaily.shared.roles import Permission

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
Tracking = NamedDependency[TrackingService]
Confirmations = NamedDependency[ConfirmationService]


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


class TrackingController(Controller):
    """Links inside sent messages."""

    tags = ["tracking"]
    opt = public()
    include_in_schema = True
    dependencies = {"tracking": Provide(deps.provide_tracking, sync_to_thread=False)}

    @get(
        "/t/o/{token:str}",
        responses=problems(400, 404, signed_in=False),
        summary="Open pixel",
        media_type="image/gif",
    )
    async def open_pixel(self, tracking: Tracking, token: Token) -> Response[bytes]:
        await tracking.opened(token)
        return Response(_PIXEL, media_type="image/gif", headers=_NO_STORE)

    @get(
        "/t/c/{token:str}",
        responses=problems(400, 404, signed_in=False),
        summary="Click: record, then redirect",
        status_code=302,
    )
    async def click(self, tracking: Tracking, token: Token) -> Redirect:
        """Redirects only to a link of the approved content, chosen by number inside the signed token."""
        return Redirect(await tracking.clicked(token), status_code=302, headers=_NO_STORE)

    @get(
        "/u/{token:str}",
        responses=problems(400, 404, signed_in=False),
        summary="Unsubscribe page",
        media_type="text/html",
    )
    async def unsubscribe_page(self, tracking: Tracking, token: Token) -> Response[str]:
        """A page with a button, not an unsubscribe: link scanners open every link with GET."""
        workspace, address = await tracking.unsubscribe_page(token)
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
    async def unsubscribe(
        self, request: Request[Any, Any, Any], tracking: Tracking, token: Token
    ) -> Response[str]:
        """Mail clients POST `List-Unsubscribe=One-Click` here (RFC 8058); the page's button too."""
        ref, _ = await tracking.ref(token, TokenKind.UNSUBSCRIBE)
        form = await request.form()
        how = "one-click" if form.get("List-Unsubscribe") == "One-Click" else "unsubscribe page"
        await tracking.unsubscribe(ref, how)
        return _page("You are unsubscribed", "<p>You will not get these e-mails any more.</p>")


class ConfirmationController(Controller):
    """The double opt-in link: a page with a button, the button's POST, and a new link when the
    old one expired (`JUSTMAILY_CONFIRMATION_LINK_TTL_SECONDS` after its e-mail went out)."""

    tags = ["tracking"]
    opt = public()
    dependencies = {"confirmations": Provide(deps.provide_confirmations, sync_to_thread=False)}

    @get(
        "/c/{token:str}",
        responses=problems(400, 404, signed_in=False),
        summary="Double opt-in page",
        media_type="text/html",
    )
    async def confirmation_page(self, confirmations: Confirmations, token: Token) -> Response[str]:
        """A page with a button, not the confirmation: link scanners open every link with GET."""
        link, expired = await confirmations.link(token)
        if expired:
            return _expired_page(confirmations.link_ttl, token, link)
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
    async def confirm(self, confirmations: Confirmations, token: Token) -> Response[str]:
        link, expired, confirmed = await confirmations.confirm(token)
        if expired:
            return _expired_page(confirmations.link_ttl, token, link)
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
    async def renew(self, confirmations: Confirmations, token: Token) -> Response[str]:
        """Only for an expired link of a contact still pending, and once per link: the new e-mail
        goes to the same address, so the link's holder can get no more than a resend."""
        link, renewal = await confirmations.renew(token)
        if renewal is Renewal.NOTHING_TO_CONFIRM:
            return _nothing_to_confirm()
        if renewal is Renewal.STILL_VALID:
            return _page(
                "This link still works", f'<p>Open <a href="/c/{html.escape(token)}">it</a> again.</p>'
            )
        address = html.escape(engagement.mask(link.contact.email))
        return _page(
            "A new link is on its way",
            f"<p>We are sending a new confirmation link to <b>{address}</b>: open it within "
            f"{_lasts(confirmations.link_ttl)}.</p>",
        )


def _lasts(link_ttl: timedelta) -> str:
    hours = link_ttl.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 48 else f"{hours:g} hours"


def _expired_page(link_ttl: timedelta, token: str, link: ConfirmationLink) -> Response[str]:
    body = (
        f"<p>Confirmation links work for {_lasts(link_ttl)}, and this one is older: nothing was changed.</p>"
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
    dependencies = {"hooks": Provide(deps.provide_hooks, sync_to_thread=False)}

    @post(
        "/sendgrid",
        status_code=200,
        responses=ok(dict[str, int], {"recorded": 2}) | problems(400, 401, 404, 413, signed_in=False),
        summary="SendGrid event webhook",
    )
    async def sendgrid(
        self,
        request: Request[Any, Any, Any],
        hooks: NamedDependency[ProviderHooks],
        workspace_id: FromPath[uuid.UUID],
    ) -> dict[str, int]:
        return {"recorded": await hooks.sendgrid(workspace_id, request.body, request.headers)}

    @post(
        "/mailgun",
        status_code=200,
        responses=ok(dict[str, int], {"recorded": 1}) | problems(400, 401, 404, 413, signed_in=False),
        summary="Mailgun webhooks (HMAC-signed)",
    )
    async def mailgun(
        self,
        request: Request[Any, Any, Any],
        hooks: NamedDependency[ProviderHooks],
        workspace_id: FromPath[uuid.UUID],
    ) -> dict[str, int]:
        return {"recorded": await hooks.mailgun(workspace_id, request.body)}

    @post(
        "/postmark",
        status_code=200,
        responses=ok(dict[str, int], {"recorded": 1}) | problems(400, 401, 404, 413, signed_in=False),
        summary="Postmark webhooks (Basic credentials from the webhook URL)",
    )
    async def postmark(
        self,
        request: Request[Any, Any, Any],
        hooks: NamedDependency[ProviderHooks],
        workspace_id: FromPath[uuid.UUID],
    ) -> dict[str, int]:
        return {"recorded": await hooks.postmark(workspace_id, request.body, request.headers)}

    @post(
        "/ses",
        status_code=200,
        responses=ok(dict[str, int], {"recorded": 2}) | problems(400, 401, 404, 413, signed_in=False),
        summary="Amazon SES notifications via SNS",
    )
    async def ses(
        self,
        request: Request[Any, Any, Any],
        hooks: NamedDependency[ProviderHooks],
        workspace_id: FromPath[uuid.UUID],
    ) -> dict[str, int]:
        return {"recorded": await hooks.ses(workspace_id, request.body)}


class WebhookSettingsController(Controller):
    """Admins' side of the provider webhooks: how their reports are verified."""

    path = "/api/delivery"
    tags = ["delivery"]
    dependencies = {"webhooks": Provide(deps.provide_webhook_setup, sync_to_thread=False)}

    @get(
        "/webhooks",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=ok(wire.WebhookSettings, delivery_examples.WEBHOOKS) | problems(),
        summary="How bounce and complaint webhooks are verified",
    )
    async def get_webhooks(self, webhooks: NamedDependency[WebhookSetup]) -> wire.WebhookSettings:
        return await webhooks.webhook_settings()

    @put(
        "/webhooks",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=ok(wire.WebhookSettings, delivery_examples.WEBHOOKS) | problems(400, 422),
        summary="Set the SendGrid key, the SNS topics, the Mailgun signing key and Postmark's credentials",
    )
    async def set_webhooks(
        self,
        webhooks: NamedDependency[WebhookSetup],
        data: Annotated[
            wire.WebhookSettings,
            body("SES topic", {"ses_topic_arns": ["arn:aws:sns:eu-west-1:123456789012:ses-bounces"]}),
        ],
    ) -> wire.WebhookSettings:
        return await webhooks.set_webhook_settings(data)
