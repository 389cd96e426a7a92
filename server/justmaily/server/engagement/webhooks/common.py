"""What both providers' webhooks share: the event we make of a report, the rejection, and
strict readers of the JSON they send."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

import msgspec

from justmaily.shared.delivery import EventKind

RejectionCode = Literal[
    "too_large",  # the body is over the size cap
    "malformed",  # not the JSON shape the provider documents
    "missing_signature",  # the signature headers are absent
    "bad_signature",  # the signature does not verify (or cannot be read)
    "stale",  # the signed timestamp is outside the accepted window: a replay, or a broken clock
    "untrusted_certificate_url",  # SigningCertURL is not an SNS host's .pem over https
    "certificate_unavailable",  # the certificate could not be fetched
    "bad_certificate",  # what was fetched is not an X.509 certificate with an RSA key
    "expired_certificate",  # the certificate is outside its validity period
    "topic_not_allowed",  # the SNS topic is not one we subscribed
    "replayed",  # a signed nonce seen before (Mailgun's token): the same signature posted again
]

MAX_DETAIL_CHARS = 500
_MAX_MESSAGE_ID_CHARS = 200  # the outbox column's width: anything longer cannot be one of ours
# local@domain in visible ASCII, without angle brackets: the form the outbox stores (message.py).
_MESSAGE_ID = re.compile(r"[\x21-\x3b\x3d\x3f\x41-\x7e]+@[\x21-\x3b\x3d\x3f\x41-\x7e]+", re.ASCII)


class ProviderEvent(msgspec.Struct, frozen=True):
    """One thing a provider reports about one recipient's message, in our vocabulary."""

    provider: str  # "ses" | "sendgrid"
    kind: EventKind
    address: str  # the recipient as the provider reports it
    # Stop sending to this address: a hard bounce, a complaint, an unsubscribe.
    permanent: bool
    # Our RFC 5322 Message-ID as the outbox stores it (local@domain, no angle brackets), when reported.
    message_id: str | None
    provider_message_id: str | None
    occurred_at: datetime  # aware, UTC
    detail: str  # diagnostic code, bounce subtype, reason: at most MAX_DETAIL_CHARS
    # An open the provider says a machine made (a privacy proxy fetching every message).
    machine: bool = False


# The name reads as the verdict where handlers catch it (`except WebhookRejected`), as the design asks.
class WebhookRejected(Exception):  # noqa: N818
    """The request is not to be trusted or cannot be read; `code` is stable, `reason` is for people."""

    code: RejectionCode
    reason: str

    def __init__(self, code: RejectionCode, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def as_object(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise WebhookRejected("malformed", f"{where} is not a JSON object")
    return value


def as_list(container: dict[str, object], key: str, where: str) -> list[object]:
    value = container.get(key)
    if not isinstance(value, list):
        raise WebhookRejected("malformed", f"{where}: {key!r} must be a list")
    return value


def as_str(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise WebhookRejected("malformed", f"{where} must be a non-empty string")
    return value


def required_str(container: dict[str, object], key: str, where: str) -> str:
    return as_str(container.get(key), f"{where}: {key!r}")


def optional_str(container: dict[str, object], key: str, where: str) -> str | None:
    value = container.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise WebhookRejected("malformed", f"{where}: {key!r} must be a string")
    return value


def parse_time(text: str, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise WebhookRejected("malformed", f"{where} is not an ISO 8601 time: {text!r}") from None
    # AWS writes UTC with a Z; a time without an offset is read as UTC rather than local time.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def our_message_id(value: object) -> str | None:
    # Reports echo the header as sent, angle brackets and all; the outbox keeps local@domain.
    # Anything that cannot be one of ours is dropped rather than matched against our messages.
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    if len(text) > _MAX_MESSAGE_ID_CHARS or not _MESSAGE_ID.fullmatch(text):
        return None
    return text


def join(*parts: str | None) -> str:
    return ": ".join(part for part in parts if part)


def bounded(text: str) -> str:
    # Diagnostic codes arrive folded over several lines; one line reads better in the events table.
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_DETAIL_CHARS else flat[: MAX_DETAIL_CHARS - 1] + "…"
