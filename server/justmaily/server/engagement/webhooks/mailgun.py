"""Mailgun's signed webhooks: HMAC-SHA256, keyed with the domain's webhook signing key, over the
timestamp followed by the token, both inside the JSON body next to the event it signs.

Mailgun signs one event a post: `{"signature": {"timestamp", "token", "signature"},
"event-data": {...}}`. The key is a secret (unlike SendGrid's public key): it is stored sealed
and compared in constant time. A post signed outside `tolerance` of now is refused before any
HMAC is computed, so replaying an old post costs nothing and does nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

import msgspec

from justmaily.server.engagement.webhooks.common import (
    ProviderEvent,
    WebhookRejected,
    as_object,
    bounded,
    join,
    optional_str,
    our_message_id,
    required_str,
)
from justmaily.shared.delivery import EventKind

MAX_BODY_BYTES = 256 * 1024  # one event a post
_UNIX_TIME = re.compile(r"[0-9]{1,12}", re.ASCII)
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}", re.ASCII)

# Mailgun's event names in ours; "accepted" (queued by Mailgun) and "stored" teach us nothing.
_KINDS: dict[str, EventKind] = {
    "delivered": EventKind.DELIVERED,
    "opened": EventKind.OPENED,
    "clicked": EventKind.CLICKED,
    "unsubscribed": EventKind.UNSUBSCRIBED,
    "complained": EventKind.COMPLAINED,
}


TOLERANCE = timedelta(minutes=5)


class MailgunPost(msgspec.Struct, frozen=True):
    token: str  # single-use: the caller refuses a token it has accepted before (hooks.py)
    events: list[ProviderEvent]


def parse_mailgun(
    body: bytes, signing_key: bytes, now: datetime, tolerance: timedelta = TOLERANCE
) -> MailgunPost:
    """Verify a Mailgun webhook post and return its token and event (none for events we skip).

    Raises WebhookRejected for a body too large or malformed, a signature absent, stale or wrong.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if not signing_key:
        raise ValueError("no Mailgun signing key")
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRejected("too_large", f"body is {len(body)} bytes; the cap is {MAX_BODY_BYTES}")
    try:
        document = as_object(msgspec.json.decode(body), "body")
    except msgspec.DecodeError as exc:
        raise WebhookRejected("malformed", f"body is not JSON: {exc}") from None
    signed = document.get("signature")
    if not isinstance(signed, dict):
        raise WebhookRejected("missing_signature", "the body has no 'signature' object")
    timestamp, token, signature = (signed.get(k) for k in ("timestamp", "token", "signature"))
    if not (isinstance(timestamp, str) and isinstance(token, str) and isinstance(signature, str)):
        raise WebhookRejected("missing_signature", "signature needs timestamp, token and signature strings")
    if not _UNIX_TIME.fullmatch(timestamp) or not _HEX_SHA256.fullmatch(signature) or len(token) > 200:
        raise WebhookRejected("bad_signature", "the signature's fields are not in Mailgun's form")
    signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(now - signed_at) > tolerance:
        raise WebhookRejected("stale", f"signed at {signed_at.isoformat()}, outside {tolerance} of now")
    expected = hmac.new(
        signing_key, (timestamp + token).encode("ascii", "replace"), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise WebhookRejected("bad_signature", "the signature does not verify with the signing key")
    event = _mailgun_event(as_object(document.get("event-data"), "event-data"))
    return MailgunPost(token, [] if event is None else [event])


def _mailgun_event(data: dict[str, object]) -> ProviderEvent | None:
    where = "event-data"
    name = required_str(data, "event", where)
    severity = optional_str(data, "severity", where)
    if name == "failed":
        # A permanent failure is a hard bounce; a temporary one Mailgun keeps retrying.
        if severity != "permanent":
            return None
        kind, permanent = EventKind.BOUNCED, True
    elif name in _KINDS:
        kind = _KINDS[name]
        permanent = kind in (EventKind.UNSUBSCRIBED, EventKind.COMPLAINED)
    else:
        return None
    timestamp = data.get("timestamp")
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
        raise WebhookRejected("malformed", f"{where}: 'timestamp' must be a Unix time")
    try:
        occurred_at = datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError):
        raise WebhookRejected("malformed", f"{where}: 'timestamp' is out of range") from None
    message = data.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    message_id = our_message_id(headers.get("message-id")) if isinstance(headers, dict) else None
    status = data.get("delivery-status")
    status_detail = (
        join(
            str(status.get("code", "")) or None,
            optional_str(status, "description", where) or optional_str(status, "message", where),
        )
        if isinstance(status, dict)
        else None
    )
    return ProviderEvent(
        provider="mailgun",
        kind=kind,
        address=required_str(data, "recipient", where),
        permanent=permanent,
        message_id=message_id,
        provider_message_id=optional_str(data, "id", where),
        occurred_at=occurred_at,
        detail=bounded(join(name, severity, optional_str(data, "reason", where), status_detail) or name),
    )
