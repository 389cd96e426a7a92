"""Postmark's webhooks: one JSON record a post, authenticated with HTTP Basic credentials the
admin puts into the webhook's URL in Postmark (Postmark signs nothing; the credentials are the
proof, so they are a secret: stored sealed, compared in constant time).

Our Message-ID travels as the metadata field `justmaily_message_id` when the message carried it
(`X-PM-Metadata-justmaily_message_id`); otherwise the address's latest message is meant.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

import msgspec

from justmaily.server.engagement.webhooks.common import (
    ProviderEvent,
    WebhookRejected,
    as_object,
    bounded,
    join,
    optional_str,
    our_message_id,
    parse_time,
    required_str,
)
from justmaily.shared.delivery import EventKind

MAX_BODY_BYTES = 256 * 1024  # one record a post (a bounce's full dump is not sent unless asked)
POSTMARK_MESSAGE_ID_FIELD = "justmaily_message_id"
# Bounce types after which the address is not worth trying again (Postmark's bounce API names).
_PERMANENT_BOUNCES = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "AddressChange"})


def check_credentials(headers: Mapping[str, str], expected: str) -> None:
    """The Authorization header must carry exactly `expected` ("user:password") as Basic."""
    given = next((value for key, value in headers.items() if key.lower() == "authorization"), None)
    if not given:
        raise WebhookRejected(
            "missing_signature", "no Authorization header: set credentials in the webhook URL"
        )
    scheme, _, token = given.partition(" ")
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejected("bad_signature", "the Authorization header is not Basic credentials") from None
    if scheme.lower() != "basic" or not hmac.compare_digest(decoded, expected.encode()):
        raise WebhookRejected("bad_signature", "the credentials are not the webhook's")


def parse_postmark(body: bytes) -> list[ProviderEvent]:
    """The record as our events (none for records we skip); call `check_credentials` first."""
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRejected("too_large", f"body is {len(body)} bytes; the cap is {MAX_BODY_BYTES}")
    try:
        record = as_object(msgspec.json.decode(body), "body")
    except msgspec.DecodeError as exc:
        raise WebhookRejected("malformed", f"body is not JSON: {exc}") from None
    where = "record"
    kind_name = required_str(record, "RecordType", where)
    if kind_name in ("Bounce", "SpamComplaint"):
        bounce_type = optional_str(record, "Type", where) or kind_name
        complaint = kind_name == "SpamComplaint" or bounce_type == "SpamComplaint"
        kind = EventKind.COMPLAINED if complaint else EventKind.BOUNCED
        permanent = complaint or bounce_type in _PERMANENT_BOUNCES
        address, at = required_str(record, "Email", where), required_str(record, "BouncedAt", where)
        detail = join(
            bounce_type, optional_str(record, "Description", where), optional_str(record, "Details", where)
        )
    elif kind_name == "Delivery":
        kind, permanent = EventKind.DELIVERED, False
        address, at = required_str(record, "Recipient", where), required_str(record, "DeliveredAt", where)
        detail = optional_str(record, "Details", where) or "delivered"
    elif kind_name in ("Open", "Click"):
        kind, permanent = (EventKind.OPENED if kind_name == "Open" else EventKind.CLICKED), False
        address, at = required_str(record, "Recipient", where), required_str(record, "ReceivedAt", where)
        detail = optional_str(record, "OriginalLink", where) or kind_name.lower()
    elif kind_name == "SubscriptionChange":
        if record.get("SuppressSending") is not True:
            return []  # a reactivation: nothing for us to record
        kind, permanent = EventKind.UNSUBSCRIBED, True
        address, at = required_str(record, "Recipient", where), required_str(record, "ChangedAt", where)
        detail = join("suppressed", optional_str(record, "SuppressionReason", where))
    else:
        return []
    metadata = record.get("Metadata")
    ours = metadata.get(POSTMARK_MESSAGE_ID_FIELD) if isinstance(metadata, dict) else None
    provider_id = record.get("MessageID")
    return [
        ProviderEvent(
            provider="postmark",
            kind=kind,
            address=address,
            permanent=permanent,
            message_id=our_message_id(ours),
            provider_message_id=provider_id if isinstance(provider_id, str) else None,
            occurred_at=parse_time(at, f"{where}: time"),
            detail=bounded(detail or kind_name),
        )
    ]
