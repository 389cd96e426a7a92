"""Amazon SES reports through an SNS topic; SNS signs each HTTP(S) delivery with RSA (SHA1 for
SignatureVersion 1, SHA256 for 2) under a certificate fetched from an SNS host."""

from __future__ import annotations

import base64
import binascii
import functools
import re
import ssl
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import IO

import anyio
import anyio.to_thread
import msgspec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from justmaily.server.engagement.webhooks.common import (
    ProviderEvent,
    WebhookRejected,
    as_list,
    as_object,
    as_str,
    bounded,
    join,
    optional_str,
    our_message_id,
    parse_time,
    required_str,
)
from justmaily.shared.delivery import EventKind

# SNS caps a message at 256 KiB; JSON escaping inside the envelope can roughly double it.
MAX_SNS_BODY_BYTES = 1024 * 1024
MAX_CERTIFICATE_BYTES = 100 * 1024  # an SNS signing certificate is about 2 KB
CERTIFICATE_READ_TIMEOUT_SECONDS = 5.0  # per connect or read
CERTIFICATE_FETCH_DEADLINE_SECONDS = 15.0  # the whole fetch: bounds a server that trickles bytes
# A real SNS signing-certificate URL looks like
# https://sns.us-east-1.amazonaws.com/SimpleNotificationService-<hex>.pem. The whole URL is matched,
# so userinfo, ports, queries, fragments and look-alike hosts all fail. The region must look like
# one (letters, dashes, a number): a looser label would admit S3 bucket hosts such as
# sns.s3-us-west-2.amazonaws.com, where anyone can publish a .pem.
_SNS_CERT_URL = re.compile(
    r"https://sns\.[a-z]{2}(?:-[a-z]+)+-[0-9]+\.amazonaws\.com(?:\.cn)?(?:/[A-Za-z0-9_.-]+)+\.pem",
    re.ASCII,
)
_SNS_FUTURE_SKEW = timedelta(minutes=5)  # clocks drift; a message from further ahead is not genuine


class SnsMessage(msgspec.Struct, frozen=True):
    """An SNS delivery whose signature has been verified."""

    type: str  # "Notification" | "SubscriptionConfirmation" | "UnsubscribeConfirmation"
    message_id: str
    topic_arn: str
    message: str
    timestamp: datetime  # aware, UTC: when SNS published it
    subject: str | None = None
    # Confirmations only: GET subscribe_url (or call ConfirmSubscription with the token) to subscribe.
    subscribe_url: str | None = None
    token: str | None = None
    unsubscribe_url: str | None = None  # notifications only


class _SnsEnvelope(msgspec.Struct, frozen=True):
    # Field values stay as received: the string to sign is built from them verbatim.
    type: str = msgspec.field(name="Type")
    message_id: str = msgspec.field(name="MessageId")
    topic_arn: str = msgspec.field(name="TopicArn")
    message: str = msgspec.field(name="Message")
    timestamp: str = msgspec.field(name="Timestamp")
    signature_version: str = msgspec.field(name="SignatureVersion")
    signature: str = msgspec.field(name="Signature")
    signing_cert_url: str = msgspec.field(name="SigningCertURL")
    subject: str | None = msgspec.field(default=None, name="Subject")
    subscribe_url: str | None = msgspec.field(default=None, name="SubscribeURL")
    token: str | None = msgspec.field(default=None, name="Token")
    unsubscribe_url: str | None = msgspec.field(default=None, name="UnsubscribeURL")


_SNS_DIGESTS: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_SNS_CONFIRMATIONS = frozenset({"SubscriptionConfirmation", "UnsubscribeConfirmation"})


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SnsVerifier:
    """Verifies SNS HTTP(S) deliveries: certificate origin and dates, signature, age and topic.

    Set `allowed_topic_arns`: SNS signs for every AWS account alike, so anyone can create a
    topic, subscribe our endpoint to it and send genuinely signed messages. Raw message delivery
    must stay off on the subscription, since it strips the signed envelope.
    """

    def __init__(
        self,
        fetch_certificate: Callable[[str], Awaitable[bytes]],
        *,
        allowed_topic_arns: frozenset[str] | None = None,
        clock: Callable[[], datetime] = _utcnow,
        max_age: timedelta = timedelta(hours=1),
        cache_size: int = 16,
    ) -> None:
        self._fetch = fetch_certificate
        self._allowed_topics = allowed_topic_arns
        self._clock = clock
        # SNS retries keep the original Timestamp and signature: a delivery policy that retries
        # for longer than max_age will see its late retries refused as stale.
        self._max_age = max_age
        self._cache_size = cache_size
        # SNS signs with a handful of certificates that rotate rarely; fetching one per message
        # would make every webhook wait on AWS. Parsed certificates only: a failure is retried.
        self._certificates: OrderedDict[str, x509.Certificate] = OrderedDict()

    async def verify(self, body: bytes, *, allowed_topic_arns: frozenset[str] | None = None) -> SnsMessage:
        """The verified message, or WebhookRejected saying why not.

        `allowed_topic_arns` overrides the verifier's own list (one verifier, one certificate
        cache, serves every workspace, each with its own topics).
        """
        allowed = self._allowed_topics if allowed_topic_arns is None else allowed_topic_arns
        if len(body) > MAX_SNS_BODY_BYTES:
            raise WebhookRejected("too_large", f"body is {len(body)} bytes; the cap is {MAX_SNS_BODY_BYTES}")
        try:
            envelope = msgspec.json.decode(body, type=_SnsEnvelope)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError too
            raise WebhookRejected("malformed", f"not an SNS message: {exc}") from None
        signed = _sns_string_to_sign(envelope)
        digest = _SNS_DIGESTS.get(envelope.signature_version)
        if digest is None:
            raise WebhookRejected(
                "bad_signature", f"SignatureVersion {envelope.signature_version!r} is not supported"
            )
        # The cheap checks run first, so a forged or replayed message never makes us fetch.
        if allowed is not None and envelope.topic_arn not in allowed:
            raise WebhookRejected("topic_not_allowed", f"topic {envelope.topic_arn} is not one we subscribed")
        published = parse_time(envelope.timestamp, "Timestamp")
        now = self._clock()
        if now - published > self._max_age or published - now > _SNS_FUTURE_SKEW:
            raise WebhookRejected("stale", f"published at {published.isoformat()}, outside {self._max_age}")
        if not _SNS_CERT_URL.fullmatch(envelope.signing_cert_url):
            raise WebhookRejected(
                "untrusted_certificate_url", f"{envelope.signing_cert_url!r} is not an SNS certificate"
            )

        certificate = await self._certificate(envelope.signing_cert_url)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise WebhookRejected(
                "expired_certificate",
                f"valid {certificate.not_valid_before_utc.isoformat()} to "
                f"{certificate.not_valid_after_utc.isoformat()}",
            )
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise WebhookRejected("bad_certificate", "the certificate's key is not RSA")
        try:
            signature = base64.b64decode(envelope.signature, validate=True)
            key.verify(signature, signed, padding.PKCS1v15(), digest())
        except (binascii.Error, ValueError, InvalidSignature):
            raise WebhookRejected("bad_signature", "the signature does not verify") from None
        return SnsMessage(
            type=envelope.type,
            message_id=envelope.message_id,
            topic_arn=envelope.topic_arn,
            message=envelope.message,
            timestamp=published,
            subject=envelope.subject,
            subscribe_url=envelope.subscribe_url,
            token=envelope.token,
            unsubscribe_url=envelope.unsubscribe_url,
        )

    async def _certificate(self, url: str) -> x509.Certificate:
        cached = self._certificates.get(url)
        if cached is not None:
            self._certificates.move_to_end(url)
            return cached
        try:
            pem = await self._fetch(url)
        except WebhookRejected:
            raise
        except Exception as exc:  # the fetcher is injected: whatever it raises means "not fetched"
            raise WebhookRejected("certificate_unavailable", f"fetching {url}: {exc}") from None
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise WebhookRejected("bad_certificate", f"{url} is not a PEM certificate") from None
        self._certificates[url] = certificate
        while len(self._certificates) > self._cache_size:
            self._certificates.popitem(last=False)
        return certificate


def _sns_string_to_sign(envelope: _SnsEnvelope) -> bytes:
    # "Name\nvalue\n" per signed field, in this byte order, as AWS's verification guide specifies:
    # notifications sign Subject only when present; confirmations sign SubscribeURL and Token.
    fields: list[tuple[str, str]]
    if envelope.type == "Notification":
        fields = [("Message", envelope.message), ("MessageId", envelope.message_id)]
        if envelope.subject is not None:
            fields.append(("Subject", envelope.subject))
        fields += [("Timestamp", envelope.timestamp), ("TopicArn", envelope.topic_arn)]
    elif envelope.type in _SNS_CONFIRMATIONS:
        if envelope.subscribe_url is None or envelope.token is None:
            raise WebhookRejected("malformed", f"{envelope.type} without SubscribeURL and Token")
        fields = [
            ("Message", envelope.message),
            ("MessageId", envelope.message_id),
            ("SubscribeURL", envelope.subscribe_url),
            ("Timestamp", envelope.timestamp),
            ("Token", envelope.token),
            ("TopicArn", envelope.topic_arn),
        ]
    else:
        raise WebhookRejected("malformed", f"unknown SNS message type {envelope.type!r}")
    fields.append(("Type", envelope.type))
    return "".join(f"{name}\n{value}\n" for name, value in fields).encode("utf-8")


async def fetch_certificate_https(url: str) -> bytes:
    """Download an SNS signing certificate (production's fetcher; tests inject their own).

    Refuses any URL that is not an SNS host's .pem, does not follow redirects, verifies TLS
    and reads at most MAX_CERTIFICATE_BYTES.
    """
    if not _SNS_CERT_URL.fullmatch(url):
        raise WebhookRejected("untrusted_certificate_url", f"{url!r} is not an SNS certificate")
    # urllib blocks, so it runs on a worker thread, abandoned (not waited for) at the deadline.
    with anyio.fail_after(CERTIFICATE_FETCH_DEADLINE_SECONDS):
        return await anyio.to_thread.run_sync(
            functools.partial(_download, url, CERTIFICATE_READ_TIMEOUT_SECONDS), abandon_on_cancel=True
        )


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        # A redirect would take us to a host the URL check never saw.
        return None


def _download(url: str, timeout: float) -> bytes:
    opener = urllib.request.build_opener(
        _RefuseRedirects(), urllib.request.HTTPSHandler(context=ssl.create_default_context())
    )
    # The URL matched _SNS_CERT_URL, so the scheme is https and the host is SNS's.
    with opener.open(url, timeout=timeout) as response:
        if response.status != 200:
            raise urllib.error.HTTPError(url, response.status, "not 200", response.headers, None)
        return _read_capped(response, MAX_CERTIFICATE_BYTES)


def _read_capped(stream: IO[bytes], limit: int) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"the response is over {limit} bytes")
    return data


# --- Amazon SES ----------------------------------------------------------------------------------


def parse_ses(message: SnsMessage) -> list[ProviderEvent]:
    """The bounce, complaint and delivery events in a verified SES notification.

    Reads both SES formats: identity notifications (`notificationType`) and configuration-set
    event publishing (`eventType`), which share the objects read here. Anything else SES reports
    is skipped; a confirmation carries no events.
    """
    if message.type != "Notification":
        return []
    try:
        document = msgspec.json.decode(message.message)
    except msgspec.DecodeError as exc:
        raise WebhookRejected("malformed", f"the SES notification is not JSON: {exc}") from None
    notification = as_object(document, "SES notification")
    kind_name = notification.get("notificationType", notification.get("eventType"))
    if not isinstance(kind_name, str):
        raise WebhookRejected("malformed", "SES notification: no notificationType or eventType")
    reader = _SES_READERS.get(kind_name)
    if reader is None:
        return []  # Send, Open, Reject, AmazonSnsSubscriptionSucceeded and the like
    mail = as_object(notification.get("mail"), "mail")
    name = kind_name.lower()  # the object beside mail: bounce, complaint or delivery
    section = as_object(notification.get(name), name)
    occurred_at = parse_time(
        optional_str(section, "timestamp", name) or required_str(mail, "timestamp", "mail"),
        f"{name}.timestamp",
    )
    message_id = _ses_message_id(mail)
    provider_message_id = optional_str(mail, "messageId", "mail")
    return [
        ProviderEvent(
            provider="ses",
            kind=kind,
            address=address,
            permanent=permanent,
            message_id=message_id,
            provider_message_id=provider_message_id,
            occurred_at=occurred_at,
            detail=bounded(detail),
        )
        for kind, address, permanent, detail in reader(section)
    ]


_SesOutcome = tuple[EventKind, str, bool, str]  # kind, address, permanent, detail


def _ses_bounce(bounce: dict[str, object]) -> list[_SesOutcome]:
    bounce_type = required_str(bounce, "bounceType", "bounce")
    subtype = optional_str(bounce, "bounceSubType", "bounce")
    # Only Permanent is a hard bounce; Undetermined is not proof enough to drop a subscriber.
    permanent = bounce_type == "Permanent"
    outcomes: list[_SesOutcome] = []
    for index, recipient in enumerate(as_list(bounce, "bouncedRecipients", "bounce")):
        where = f"bounce.bouncedRecipients[{index}]"
        entry = as_object(recipient, where)
        detail = join(
            f"{bounce_type}/{subtype}" if subtype else bounce_type,
            optional_str(entry, "status", where),
            optional_str(entry, "diagnosticCode", where),
        )
        outcomes.append((EventKind.BOUNCED, required_str(entry, "emailAddress", where), permanent, detail))
    return outcomes


def _ses_complaint(complaint: dict[str, object]) -> list[_SesOutcome]:
    detail = join(
        "complaint",
        optional_str(complaint, "complaintFeedbackType", "complaint"),
        optional_str(complaint, "complaintSubType", "complaint"),
    )
    outcomes: list[_SesOutcome] = []
    for index, recipient in enumerate(as_list(complaint, "complainedRecipients", "complaint")):
        where = f"complaint.complainedRecipients[{index}]"
        address = required_str(as_object(recipient, where), "emailAddress", where)
        outcomes.append((EventKind.COMPLAINED, address, True, detail))
    return outcomes


def _ses_delivery(delivery: dict[str, object]) -> list[_SesOutcome]:
    response = optional_str(delivery, "smtpResponse", "delivery") or ""
    return [
        (EventKind.DELIVERED, as_str(address, f"delivery.recipients[{index}]"), False, response)
        for index, address in enumerate(as_list(delivery, "recipients", "delivery"))
    ]


_SES_READERS: dict[str, Callable[[dict[str, object]], list[_SesOutcome]]] = {
    "Bounce": _ses_bounce,
    "Complaint": _ses_complaint,
    "Delivery": _ses_delivery,
}


def _ses_message_id(mail: dict[str, object]) -> str | None:
    # SES replaces the Message-ID it sends with; ours survives in the original headers, which
    # SES includes only when the identity is set to include them.
    common = mail.get("commonHeaders")
    if isinstance(common, dict):
        found = our_message_id(common.get("messageId"))
        if found is not None:
            return found
    headers = mail.get("headers")
    if isinstance(headers, list):
        for header in headers:
            if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
                return our_message_id(header.get("value"))
    return None
