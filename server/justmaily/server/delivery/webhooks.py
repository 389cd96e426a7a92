"""Provider webhooks: prove a bounce or complaint report came from SendGrid or Amazon SES, then normalise it.

Both providers tell us what happened to a message after it left: delivered, bounced, complained.
A forged report would let anyone suppress our subscribers, so nothing here returns an event
before the request's signature checks out:

* SendGrid's signed Event Webhook: ECDSA P-256 over SHA-256 of the timestamp header followed by
  the raw body, with the verification key the admin copies from SendGrid (base64 DER).
* Amazon SES publishes to an SNS topic, and SNS signs each HTTP(S) delivery with RSA (SHA1 for
  SignatureVersion 1, SHA256 for 2) under a certificate fetched from an SNS host.

Parsing is strict about structure and lenient about vocabulary: an unknown event type is
skipped, a known one missing its fields rejects the request with a reason.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import ssl
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import IO, Literal

import anyio
import anyio.to_thread
import msgspec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

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
]

MAX_BODY_BYTES = 5 * 1024 * 1024  # SendGrid batches events; a few MB is far above any real post
# SNS caps a message at 256 KiB; JSON escaping inside the envelope can roughly double it.
MAX_SNS_BODY_BYTES = 1024 * 1024
MAX_CERTIFICATE_BYTES = 100 * 1024  # an SNS signing certificate is about 2 KB
CERTIFICATE_READ_TIMEOUT_SECONDS = 5.0  # per connect or read
CERTIFICATE_FETCH_DEADLINE_SECONDS = 15.0  # the whole fetch: bounds a server that trickles bytes
MAX_DETAIL_CHARS = 500
_MAX_MESSAGE_ID_CHARS = 200  # the outbox column's width: anything longer cannot be one of ours

SENDGRID_SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
SENDGRID_TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
# The custom argument our sender attaches; SendGrid flattens custom args into each event object.
SENDGRID_MESSAGE_ID_ARG = "justmaily_message_id"

# A real SNS signing-certificate URL looks like
# https://sns.us-east-1.amazonaws.com/SimpleNotificationService-<hex>.pem. The whole URL is matched,
# so userinfo, ports, queries, fragments and look-alike hosts all fail. The region must look like
# one (letters, dashes, a number): a looser label would admit S3 bucket hosts such as
# sns.s3-us-west-2.amazonaws.com, where anyone can publish a .pem.
_SNS_CERT_URL = re.compile(
    r"https://sns\.[a-z]{2}(?:-[a-z]+)+-[0-9]+\.amazonaws\.com(?:\.cn)?(?:/[A-Za-z0-9_.-]+)+\.pem",
    re.ASCII,
)
# local@domain in visible ASCII, without angle brackets: the form the outbox stores (message.py).
_MESSAGE_ID = re.compile(r"[\x21-\x3b\x3d\x3f\x41-\x7e]+@[\x21-\x3b\x3d\x3f\x41-\x7e]+", re.ASCII)
_UNIX_TIME = re.compile(r"[0-9]{1,12}", re.ASCII)
_SNS_FUTURE_SKEW = timedelta(minutes=5)  # clocks drift; a message from further ahead is not genuine


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


# The name reads as the verdict where handlers catch it (`except WebhookRejected`), as the design asks.
class WebhookRejected(Exception):  # noqa: N818
    """The request is not to be trusted or cannot be read; `code` is stable, `reason` is for people."""

    code: RejectionCode
    reason: str

    def __init__(self, code: RejectionCode, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


# --- SendGrid ---------------------------------------------------------------------------------------


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
        event = _sendgrid_event(_object(entry, f"event {index}"), f"event {index}")
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
    classified = _sendgrid_kind(_required_str(entry, "event", where), entry, where)
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
        address=_required_str(entry, "email", where),
        permanent=permanent,
        # Our own custom argument first: smtp-id is only ours when we sent over SMTP.
        message_id=_our_message_id(entry.get(SENDGRID_MESSAGE_ID_ARG))
        or _our_message_id(entry.get("smtp-id")),
        provider_message_id=_optional_str(entry, "sg_message_id", where),
        occurred_at=occurred_at,
        detail=_bounded(detail),
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
        bounce_type = _optional_str(entry, "type", where)
        detail = _join(
            bounce_type or "bounce",
            _optional_str(entry, "bounce_classification", where),
            _optional_str(entry, "status", where),
            _optional_str(entry, "reason", where),
        )
        return EventKind.BOUNCED, bounce_type in (None, "bounce"), detail
    if name == "dropped":
        reason = _optional_str(entry, "reason", where) or ""
        detail = _join("dropped", reason)
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
    detail = (_optional_str(entry, detail_field, where) if detail_field else None) or name
    if name == "open" and entry.get("sg_machine_open") is True:
        detail = "machine open"  # Apple Mail Privacy Protection opens every message; SendGrid flags those
    return kind, permanent, detail


# --- Amazon SNS ---------------------------------------------------------------------------------


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
        published = _parse_time(envelope.timestamp, "Timestamp")
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
    notification = _object(document, "SES notification")
    kind_name = notification.get("notificationType", notification.get("eventType"))
    if not isinstance(kind_name, str):
        raise WebhookRejected("malformed", "SES notification: no notificationType or eventType")
    reader = _SES_READERS.get(kind_name)
    if reader is None:
        return []  # Send, Open, Reject, AmazonSnsSubscriptionSucceeded and the like
    mail = _object(notification.get("mail"), "mail")
    name = kind_name.lower()  # the object beside mail: bounce, complaint or delivery
    section = _object(notification.get(name), name)
    occurred_at = _parse_time(
        _optional_str(section, "timestamp", name) or _required_str(mail, "timestamp", "mail"),
        f"{name}.timestamp",
    )
    message_id = _ses_message_id(mail)
    provider_message_id = _optional_str(mail, "messageId", "mail")
    return [
        ProviderEvent(
            provider="ses",
            kind=kind,
            address=address,
            permanent=permanent,
            message_id=message_id,
            provider_message_id=provider_message_id,
            occurred_at=occurred_at,
            detail=_bounded(detail),
        )
        for kind, address, permanent, detail in reader(section)
    ]


_SesOutcome = tuple[EventKind, str, bool, str]  # kind, address, permanent, detail


def _ses_bounce(bounce: dict[str, object]) -> list[_SesOutcome]:
    bounce_type = _required_str(bounce, "bounceType", "bounce")
    subtype = _optional_str(bounce, "bounceSubType", "bounce")
    # Only Permanent is a hard bounce; Undetermined is not proof enough to drop a subscriber.
    permanent = bounce_type == "Permanent"
    outcomes: list[_SesOutcome] = []
    for index, recipient in enumerate(_list(bounce, "bouncedRecipients", "bounce")):
        where = f"bounce.bouncedRecipients[{index}]"
        entry = _object(recipient, where)
        detail = _join(
            f"{bounce_type}/{subtype}" if subtype else bounce_type,
            _optional_str(entry, "status", where),
            _optional_str(entry, "diagnosticCode", where),
        )
        outcomes.append((EventKind.BOUNCED, _required_str(entry, "emailAddress", where), permanent, detail))
    return outcomes


def _ses_complaint(complaint: dict[str, object]) -> list[_SesOutcome]:
    detail = _join(
        "complaint",
        _optional_str(complaint, "complaintFeedbackType", "complaint"),
        _optional_str(complaint, "complaintSubType", "complaint"),
    )
    outcomes: list[_SesOutcome] = []
    for index, recipient in enumerate(_list(complaint, "complainedRecipients", "complaint")):
        where = f"complaint.complainedRecipients[{index}]"
        address = _required_str(_object(recipient, where), "emailAddress", where)
        outcomes.append((EventKind.COMPLAINED, address, True, detail))
    return outcomes


def _ses_delivery(delivery: dict[str, object]) -> list[_SesOutcome]:
    response = _optional_str(delivery, "smtpResponse", "delivery") or ""
    return [
        (EventKind.DELIVERED, _as_str(address, f"delivery.recipients[{index}]"), False, response)
        for index, address in enumerate(_list(delivery, "recipients", "delivery"))
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
        found = _our_message_id(common.get("messageId"))
        if found is not None:
            return found
    headers = mail.get("headers")
    if isinstance(headers, list):
        for header in headers:
            if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
                return _our_message_id(header.get("value"))
    return None


# --- Shared helpers --------------------------------------------------------------------------------


def _object(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise WebhookRejected("malformed", f"{where} is not a JSON object")
    return value


def _list(container: dict[str, object], key: str, where: str) -> list[object]:
    value = container.get(key)
    if not isinstance(value, list):
        raise WebhookRejected("malformed", f"{where}: {key!r} must be a list")
    return value


def _as_str(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise WebhookRejected("malformed", f"{where} must be a non-empty string")
    return value


def _required_str(container: dict[str, object], key: str, where: str) -> str:
    return _as_str(container.get(key), f"{where}: {key!r}")


def _optional_str(container: dict[str, object], key: str, where: str) -> str | None:
    value = container.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise WebhookRejected("malformed", f"{where}: {key!r} must be a string")
    return value


def _parse_time(text: str, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise WebhookRejected("malformed", f"{where} is not an ISO 8601 time: {text!r}") from None
    # AWS writes UTC with a Z; a time without an offset is read as UTC rather than local time.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _our_message_id(value: object) -> str | None:
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


def _join(*parts: str | None) -> str:
    return ": ".join(part for part in parts if part)


def _bounded(text: str) -> str:
    # Diagnostic codes arrive folded over several lines; one line reads better in the events table.
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_DETAIL_CHARS else flat[: MAX_DETAIL_CHARS - 1] + "…"
