"""SendGrid's signed Event Webhook: ECDSA P-256 over SHA-256 of the timestamp header followed
by the raw body, with the verification key the admin copies from SendGrid (base64 DER)."""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

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

MAX_BODY_BYTES = 5 * 1024 * 1024  # SendGrid batches events; a few MB is far above any real post
SENDGRID_SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
SENDGRID_TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
# The custom argument our sender attaches; SendGrid flattens custom args into each event object.
SENDGRID_MESSAGE_ID_ARG = "justmaily_message_id"
_UNIX_TIME = re.compile(r"[0-9]{1,12}", re.ASCII)


def parse_sendgrid(
    body: bytes,
    headers: Mapping[str, str],
    public_key: str,
    now: datetime,
    tolerance: timedelta = timedelta(minutes=5),
) -> list[ProviderEvent]:
    """Verify a signed SendGrid Event Webhook post and return the events we act on.

    `body` must be the raw request bytes: the signature covers them exactly, so a re-encoded
    JSON document never verifies. `public_key` is the verification key from SendGrid's settings
    (base64 DER); a key that does not load raises ValueError, since that is our configuration's
    fault rather than the request's. Raises WebhookRejected for anything else.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    key = load_sendgrid_key(public_key)
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRejected("too_large", f"body is {len(body)} bytes; the cap is {MAX_BODY_BYTES}")
    signature = _header(headers, SENDGRID_SIGNATURE_HEADER)
    timestamp = _header(headers, SENDGRID_TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise WebhookRejected("missing_signature", "the X-Twilio-Email-Event-Webhook-* headers are absent")
    if not _UNIX_TIME.fullmatch(timestamp):
        raise WebhookRejected("bad_signature", "the timestamp header is not a Unix time")
    # The freshness check runs before the signature so replays cost no cryptography; the
    # signature below is what makes the timestamp trustworthy.
    signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(now - signed_at) > tolerance:
        raise WebhookRejected("stale", f"signed at {signed_at.isoformat()}, outside {tolerance} of now")
    try:
        der_signature = base64.b64decode(signature, validate=True)
        key.verify(der_signature, timestamp.encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature):
        raise WebhookRejected("bad_signature", "the signature does not verify with the key") from None

    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise WebhookRejected("malformed", f"body is not JSON: {exc}") from None
    if not isinstance(document, list):
        raise WebhookRejected("malformed", "body is not a JSON array of events")
    events: list[ProviderEvent] = []
    for index, entry in enumerate(document):
        event = _sendgrid_event(as_object(entry, f"event {index}"), f"event {index}")
        if event is not None:
            events.append(event)
    return events


@functools.lru_cache(maxsize=8)
def load_sendgrid_key(public_key: str) -> ec.EllipticCurvePublicKey:
    text = public_key.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
        else:
            key = serialization.load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"the SendGrid verification key does not load: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("the SendGrid verification key is not an ECDSA P-256 public key")
    return key


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # HTTP header names are case-insensitive, and not every mapping we are handed knows that.
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


# "dropped" means SendGrid never tried, and why decides what we learn: an address on its bounce
# list (or one it finds invalid) is a hard bounce our own list has missed; an address that
# unsubscribed or reported spam is an opt-out, recorded as an unsubscribe so the complaint is not
# counted twice; any other reason (spam content, quota, a bad header) failed this message only.
_DROPPED_AS_BOUNCE = frozenset({"bounced address", "invalid"})
_DROPPED_AS_OPT_OUT = frozenset({"unsubscribed address", "spam reporting address"})


def _sendgrid_event(entry: dict[str, object], where: str) -> ProviderEvent | None:
    classified = _sendgrid_kind(required_str(entry, "event", where), entry, where)
    if classified is None:
        return None
    kind, permanent, detail = classified
    timestamp = entry.get("timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise WebhookRejected("malformed", f"{where}: 'timestamp' must be an integer Unix time")
    try:
        occurred_at = datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError):
        raise WebhookRejected("malformed", f"{where}: 'timestamp' is out of range") from None
    return ProviderEvent(
        provider="sendgrid",
        kind=kind,
        address=required_str(entry, "email", where),
        permanent=permanent,
        # Our own custom argument first: smtp-id is only ours when we sent over SMTP.
        message_id=our_message_id(entry.get(SENDGRID_MESSAGE_ID_ARG)) or our_message_id(entry.get("smtp-id")),
        provider_message_id=optional_str(entry, "sg_message_id", where),
        occurred_at=occurred_at,
        detail=bounded(detail),
        machine=kind is EventKind.OPENED and entry.get("sg_machine_open") is True,
    )


# Events whose meaning does not depend on their fields: kind, permanent, the field shown as detail.
_SENDGRID_SIMPLE: dict[str, tuple[EventKind, bool, str | None]] = {
    "spamreport": (EventKind.COMPLAINED, True, None),
    "delivered": (EventKind.DELIVERED, False, "response"),
    "open": (EventKind.OPENED, False, None),
    "click": (EventKind.CLICKED, False, "url"),
    "unsubscribe": (EventKind.UNSUBSCRIBED, True, None),
    "group_unsubscribe": (EventKind.UNSUBSCRIBED, True, None),
}


def _sendgrid_kind(name: str, entry: dict[str, object], where: str) -> tuple[EventKind, bool, str] | None:
    """What a SendGrid event means to us: kind, permanent, detail; None for events we skip."""
    if name == "bounce":
        # "bounce" is a hard bounce; "blocked" a temporary or policy refusal worth retrying.
        # Events from before SendGrid introduced the field were all hard bounces.
        bounce_type = optional_str(entry, "type", where)
        detail = join(
            bounce_type or "bounce",
            optional_str(entry, "bounce_classification", where),
            optional_str(entry, "status", where),
            optional_str(entry, "reason", where),
        )
        return EventKind.BOUNCED, bounce_type in (None, "bounce"), detail
    if name == "dropped":
        reason = optional_str(entry, "reason", where) or ""
        detail = join("dropped", reason)
        if reason.lower() in _DROPPED_AS_BOUNCE:
            return EventKind.BOUNCED, True, detail
        if reason.lower() in _DROPPED_AS_OPT_OUT:
            return EventKind.UNSUBSCRIBED, True, detail
        return EventKind.FAILED, False, detail
    simple = _SENDGRID_SIMPLE.get(name)
    if simple is None:
        # processed, deferred (SendGrid keeps retrying and reports the outcome later),
        # group_resubscribe, account events: nothing for us to record.
        return None
    kind, permanent, detail_field = simple
    detail = (optional_str(entry, detail_field, where) if detail_field else None) or name
    if name == "open" and entry.get("sg_machine_open") is True:
        detail = "machine open"  # Apple Mail Privacy Protection opens every message; SendGrid flags those
    return kind, permanent, detail
