"""Provider webhooks: real-shaped reports verify and normalise; every forgery is refused with its code."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from justmaily.server.engagement.webhooks import ses
from justmaily.server.engagement.webhooks.common import MAX_DETAIL_CHARS, ProviderEvent, WebhookRejected
from justmaily.server.engagement.webhooks.sendgrid import MAX_BODY_BYTES, parse_sendgrid
from justmaily.server.engagement.webhooks.ses import (
    MAX_SNS_BODY_BYTES,
    SnsMessage,
    SnsVerifier,
    fetch_certificate_https,
    parse_ses,
)
from justmaily.shared.delivery import EventKind

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OUR_ID = "0b5c3c524d2c4a519d3e6a0f0f7c2b1e@mail.justmaily.example"  # as the outbox stores it
OUR_HEADER = f"<{OUR_ID}>"  # as the Message-ID header carries it


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- SendGrid ---------------------------------------------------------------------------------------

SG_KEY = ec.generate_private_key(ec.SECP256R1())
SG_PUBLIC = b64(
    SG_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
)


def sendgrid_post(
    events: Any, *, at: datetime = NOW, key: ec.EllipticCurvePrivateKey = SG_KEY
) -> tuple[bytes, dict[str, str]]:
    """A post as SendGrid signs it: ECDSA P-256/SHA-256 over the timestamp then the raw body."""
    body = events if isinstance(events, bytes) else json.dumps(events).encode()
    timestamp = str(int(at.timestamp()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": b64(signature),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }
    return body, headers


def sendgrid_code(body: bytes, headers: dict[str, str], public_key: str = SG_PUBLIC) -> str:
    with pytest.raises(WebhookRejected) as caught:
        parse_sendgrid(body, headers, public_key, NOW)
    return caught.value.code


def sg_event(event: str, **fields: Any) -> dict[str, Any]:
    return {
        "email": "jane@example.com",
        "timestamp": int(NOW.timestamp()) - 30,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": event,
        "category": "cat facts",
        "sg_event_id": "sg_event_id",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        **fields,
    }


def test_sendgrids_own_published_vector_verifies() -> None:
    # The key, signature and payload from sendgrid-python's test_eventwebhook.py: proof that we
    # sign-check exactly what SendGrid signs, not merely what our own helper signs.
    public_key = (
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+"
        "2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
    )
    signature = (
        "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
    )
    payload = (
        b'[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address",'
        b'"sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",'
        b'"sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",'
        b'"smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]\r\n'
    )
    headers = {
        "x-twilio-email-event-webhook-signature": signature,
        "x-twilio-email-event-webhook-timestamp": "1600112502",
    }
    events = parse_sendgrid(payload, headers, public_key, datetime.fromtimestamp(1600112502, UTC))
    assert events == [
        ProviderEvent(
            provider="sendgrid",
            kind=EventKind.BOUNCED,
            address="hello@world.com",
            permanent=True,
            message_id="LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net",
            provider_message_id="LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
            occurred_at=datetime(2020, 9, 14, 19, 41, 32, tzinfo=UTC),
            detail="dropped: Bounced Address",
        )
    ]
    with pytest.raises(WebhookRejected) as caught:
        parse_sendgrid(
            payload.replace(b"hello", b"hallo"), headers, public_key, datetime.fromtimestamp(1600112502, UTC)
        )
    assert caught.value.code == "bad_signature"


def test_sendgrid_batch_maps_each_event_type() -> None:
    body, headers = sendgrid_post(
        [
            sg_event("processed"),
            sg_event(
                "bounce",
                type="bounce",
                status="5.1.1",
                reason="550 5.1.1 user unknown",
                bounce_classification="Invalid Address",
                justmaily_message_id=OUR_ID,
            ),
            sg_event(
                "bounce", email="soft@example.com", type="blocked", status="4.0.0", reason="421 try later"
            ),
            sg_event("deferred", response="400 try again later", attempt="5"),
            sg_event("delivered", response="250 OK"),
            sg_event("spamreport", email="angry@example.com"),
            sg_event("dropped", email="gone@example.com", reason="Unsubscribed Address"),
            sg_event("dropped", reason="Spam Content (if spam checker app is enabled)"),
            sg_event("open", sg_machine_open=True, useragent="Mozilla/5.0"),
            sg_event("click", url="https://example.com/offer"),
            sg_event("group_unsubscribe", asm_group_id=10),
            {"event": "account_status_change", "type": "compliance_suspend", "timestamp": 1},
        ]
    )
    events = parse_sendgrid(body, headers, SG_PUBLIC, NOW)
    summary = [(e.kind, e.address, e.permanent, e.detail) for e in events]
    assert summary == [
        (
            EventKind.BOUNCED,
            "jane@example.com",
            True,
            "bounce: Invalid Address: 5.1.1: 550 5.1.1 user unknown",
        ),
        (EventKind.BOUNCED, "soft@example.com", False, "blocked: 4.0.0: 421 try later"),
        (EventKind.DELIVERED, "jane@example.com", False, "250 OK"),
        (EventKind.COMPLAINED, "angry@example.com", True, "spamreport"),
        (EventKind.UNSUBSCRIBED, "gone@example.com", True, "dropped: Unsubscribed Address"),
        (
            EventKind.FAILED,
            "jane@example.com",
            False,
            "dropped: Spam Content (if spam checker app is enabled)",
        ),
        (EventKind.OPENED, "jane@example.com", False, "machine open"),
        (EventKind.CLICKED, "jane@example.com", False, "https://example.com/offer"),
        (EventKind.UNSUBSCRIBED, "jane@example.com", True, "group_unsubscribe"),
    ]
    # Our custom argument wins over smtp-id; every time is aware UTC.
    assert events[0].message_id == OUR_ID
    assert events[1].message_id == "14c5d75ce93.dfd.64b469@ismtpd-555"
    assert {e.provider for e in events} == {"sendgrid"}
    # Only the open SendGrid flags sg_machine_open is a machine's (Apple MPP): open rates leave it out.
    assert [e.machine for e in events] == [e.detail == "machine open" for e in events]
    assert any(e.machine for e in events)
    assert all(e.occurred_at == NOW - timedelta(seconds=30) and e.occurred_at.tzinfo is UTC for e in events)


def test_sendgrid_bounce_without_a_type_is_a_hard_bounce_and_detail_is_bounded() -> None:
    body, headers = sendgrid_post([sg_event("bounce", reason="550 " + "x" * 2000, **{"smtp-id": None})])
    (event,) = parse_sendgrid(body, headers, SG_PUBLIC, NOW)
    assert event.permanent is True
    assert event.message_id is None
    assert len(event.detail) == MAX_DETAIL_CHARS


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        (OUR_ID, OUR_ID),
        (OUR_HEADER, OUR_ID),
        (f"  {OUR_HEADER} ", OUR_ID),
        ("no-at-sign", None),
        ("a b@example.com", None),
        ("<a@example.com", None),
        ("x" * 200 + "@example.com", None),
        (42, None),
    ],
)
def test_message_ids_are_normalised_to_the_outbox_form(reported: object, expected: str | None) -> None:
    body, headers = sendgrid_post([sg_event("bounce", justmaily_message_id=reported, **{"smtp-id": None})])
    (event,) = parse_sendgrid(body, headers, SG_PUBLIC, NOW)
    assert event.message_id == expected


def test_sendgrid_tampered_body_is_refused() -> None:
    body, headers = sendgrid_post([sg_event("bounce", type="bounce")])
    assert sendgrid_code(body.replace(b"jane@", b"john@"), headers) == "bad_signature"


def test_sendgrid_other_key_is_refused() -> None:
    body, headers = sendgrid_post([sg_event("bounce")], key=ec.generate_private_key(ec.SECP256R1()))
    assert sendgrid_code(body, headers) == "bad_signature"


def test_sendgrid_signature_over_another_timestamp_is_refused() -> None:
    body, headers = sendgrid_post([sg_event("bounce")])
    headers["X-Twilio-Email-Event-Webhook-Timestamp"] = str(int(NOW.timestamp()) - 1)
    assert sendgrid_code(body, headers) == "bad_signature"


@pytest.mark.parametrize("signature", ["not base64!", b64(b"\x30\x03junk"), ""])
def test_sendgrid_garbled_signature_is_refused(signature: str) -> None:
    body, headers = sendgrid_post([sg_event("bounce")])
    headers["X-Twilio-Email-Event-Webhook-Signature"] = signature
    assert sendgrid_code(body, headers) == ("missing_signature" if not signature else "bad_signature")


@pytest.mark.parametrize(
    "header", ["X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp"]
)
def test_sendgrid_missing_header_is_refused(header: str) -> None:
    body, headers = sendgrid_post([sg_event("bounce")])
    del headers[header]
    assert sendgrid_code(body, headers) == "missing_signature"


def test_sendgrid_timestamp_that_is_not_unix_time_is_refused() -> None:
    body, headers = sendgrid_post([sg_event("bounce")])
    headers["X-Twilio-Email-Event-Webhook-Timestamp"] = "2026-03-02T12:00:00Z"
    assert sendgrid_code(body, headers) == "bad_signature"


@pytest.mark.parametrize("offset", [timedelta(minutes=-10), timedelta(minutes=10)])
def test_sendgrid_replayed_or_future_post_is_stale(offset: timedelta) -> None:
    body, headers = sendgrid_post([sg_event("bounce")], at=NOW + offset)
    assert sendgrid_code(body, headers) == "stale"


def test_sendgrid_oversized_body_is_refused_before_anything_else() -> None:
    assert sendgrid_code(b"[" + b" " * MAX_BODY_BYTES + b"]", {}) == "too_large"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"<html>not json</html>", "not JSON"),
        ({"event": "bounce"}, "not a JSON array"),
        (["bounce"], "event 0 is not a JSON object"),
        ([{"email": "jane@example.com", "timestamp": 1}], "event 0: 'event'"),
        ([sg_event("bounce", email=42)], "event 0: 'email'"),
        ([sg_event("bounce", email=None)], "event 0: 'email'"),
        ([sg_event("bounce", timestamp="1772452800")], "event 0: 'timestamp' must be an integer"),
        ([sg_event("bounce", timestamp=True)], "event 0: 'timestamp' must be an integer"),
        ([sg_event("bounce", timestamp=10**20)], "out of range"),
        ([sg_event("delivered"), sg_event("bounce", reason=["550"])], "event 1: 'reason'"),
    ],
)
def test_sendgrid_malformed_body_is_refused_with_a_reason(payload: Any, reason: str) -> None:
    body, headers = sendgrid_post(payload)
    with pytest.raises(WebhookRejected) as caught:
        parse_sendgrid(body, headers, SG_PUBLIC, NOW)
    assert caught.value.code == "malformed"
    assert reason in caught.value.reason


def test_sendgrid_key_that_does_not_load_is_a_configuration_error() -> None:
    body, headers = sendgrid_post([sg_event("bounce")])
    with pytest.raises(ValueError, match="does not load"):
        parse_sendgrid(body, headers, "not-a-key", NOW)
    rsa_public = OTHER_RSA_KEY.public_key()
    rsa_der = rsa_public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="P-256"):
        parse_sendgrid(body, headers, b64(rsa_der), NOW)


# --- Amazon SNS and SES ----------------------------------------------------------------------------

TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-feedback"
CERT_URL = (
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem"
)
SNS_KEY = rsa.generate_private_key(65537, 2048)
OTHER_RSA_KEY = rsa.generate_private_key(65537, 2048)


def certificate(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = SNS_KEY,
    *,
    not_before: datetime = NOW - timedelta(days=30),
    not_after: datetime = NOW + timedelta(days=300),
) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return built.public_bytes(serialization.Encoding.PEM)


GOOD_CERT = certificate()


class FakeFetcher:
    """Serves certificates from memory and remembers what was asked: the tests never touch the network."""

    def __init__(self, certificates: dict[str, bytes] | None = None) -> None:
        self.certificates = {CERT_URL: GOOD_CERT} if certificates is None else certificates
        self.calls: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        return self.certificates[url]


def string_to_sign(fields: dict[str, str]) -> bytes:
    # Written out from AWS's guide rather than imported, so a field-order slip in either is caught.
    if fields["Type"] == "Notification":
        names = [
            "Message",
            "MessageId",
            *(["Subject"] if "Subject" in fields else []),
            "Timestamp",
            "TopicArn",
            "Type",
        ]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{name}\n{fields[name]}\n" for name in names).encode()


def sns_envelope(
    type_: str,
    message: str,
    *,
    version: str = "1",
    key: rsa.RSAPrivateKey = SNS_KEY,
    published: datetime = NOW - timedelta(seconds=5),
    **extra: str,
) -> dict[str, str]:
    fields = {
        "Type": type_,
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Message": message,
        "Timestamp": published.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        **extra,
    }
    # SignatureVersion 1 is SHA1withRSA: SNS's default to this day, so it is what most topics send.
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303
    signature = key.sign(string_to_sign(fields), padding.PKCS1v15(), digest)
    return {**fields, "SignatureVersion": version, "Signature": b64(signature), "SigningCertURL": CERT_URL}


def notification(message: Any, **extra: Any) -> dict[str, str]:
    text = message if isinstance(message, str) else json.dumps(message)
    return sns_envelope(
        "Notification",
        text,
        UnsubscribeURL="https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
        + TOPIC
        + ":c9135db0",
        **extra,
    )


def encode(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope).encode()


def verifier(fetcher: FakeFetcher | None = None, **options: Any) -> SnsVerifier:
    options.setdefault("allowed_topic_arns", frozenset({TOPIC}))
    return SnsVerifier(fetcher or FakeFetcher(), clock=lambda: NOW, **options)


async def sns_code(body: bytes, checker: SnsVerifier | None = None) -> str:
    with pytest.raises(WebhookRejected) as caught:
        await (checker or verifier()).verify(body)
    return caught.value.code


def ses_mail(**extra: Any) -> dict[str, Any]:
    # The mail object as AWS's notification examples show it, with our Message-ID in the headers.
    return {
        "timestamp": "2026-03-02T11:58:38.237Z",
        "source": "john@example.com",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/example.com",
        "sourceIp": "127.0.3.0",
        "sendingAccountId": "123456789012",
        "callerIdentity": "IAM_user_or_role_name",
        "messageId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
        "destination": ["jane@example.com", "mary@example.com", "richard@example.com"],
        "headersTruncated": False,
        "headers": [
            {"name": "From", "value": '"John Doe" <john@example.com>'},
            {"name": "To", "value": '"Jane Doe" <jane@example.com>, "Mary Doe" <mary@example.com>'},
            {"name": "Message-ID", "value": OUR_HEADER},
            {"name": "Subject", "value": "Hello"},
        ],
        "commonHeaders": {
            "from": ["John Doe <john@example.com>"],
            "date": "Mon, 02 Mar 2026 11:58:37 +0000",
            "to": ["Jane Doe <jane@example.com>, Mary Doe <mary@example.com>"],
            "messageId": OUR_HEADER,
            "subject": "Hello",
        },
        **extra,
    }


BOUNCE: dict[str, Any] = {
    "notificationType": "Bounce",
    "bounce": {
        "bounceType": "Permanent",
        "reportingMTA": "dns; email.example.com",
        "bouncedRecipients": [
            {
                "emailAddress": "jane@example.com",
                "status": "5.1.1",
                "action": "failed",
                "diagnosticCode": "smtp; 550 5.1.1 <jane@example.com>... User",
            }
        ],
        "bounceSubType": "General",
        "timestamp": "2026-03-02T11:59:38.237Z",
        "feedbackId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000",
        "remoteMtaIp": "127.0.2.0",
    },
    "mail": ses_mail(),
}
COMPLAINT: dict[str, Any] = {
    "notificationType": "Complaint",
    "complaint": {
        "userAgent": "AnyCompany Feedback Loop (V0.01)",
        "complainedRecipients": [{"emailAddress": "richard@example.com"}],
        "complaintFeedbackType": "abuse",
        "arrivalDate": "2026-03-02T11:59:30.000Z",
        "timestamp": "2026-03-02T11:59:38.237Z",
        "feedbackId": "000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000",
    },
    "mail": ses_mail(),
}
# Configuration-set event publishing: eventType, and original headers without commonHeaders.messageId.
DELIVERY: dict[str, Any] = {
    "eventType": "Delivery",
    "mail": ses_mail(commonHeaders={"from": ["john@example.com"], "subject": "Hello"}),
    "delivery": {
        "timestamp": "2026-03-02T11:59:39.000Z",
        "processingTimeMillis": 546,
        "recipients": ["jane@example.com", "mary@example.com"],
        "smtpResponse": "250 ok:  Message 64111812 accepted",
        "reportingMTA": "a8-70.smtp-out.amazonses.com",
        "remoteMtaIp": "127.0.2.0",
    },
}


async def test_sns_v1_bounce_notification_verifies_and_parses() -> None:
    message = await verifier().verify(encode(notification(BOUNCE)))
    assert message.type == "Notification"
    assert message.topic_arn == TOPIC
    assert message.timestamp == NOW - timedelta(seconds=5)
    assert parse_ses(message) == [
        ProviderEvent(
            provider="ses",
            kind=EventKind.BOUNCED,
            address="jane@example.com",
            permanent=True,
            message_id=OUR_ID,
            provider_message_id="00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
            occurred_at=datetime(2026, 3, 2, 11, 59, 38, 237000, tzinfo=UTC),
            detail="Permanent/General: 5.1.1: smtp; 550 5.1.1 <jane@example.com>... User",
        )
    ]


async def test_sns_v2_complaint_with_a_subject_verifies_and_parses() -> None:
    envelope = sns_envelope(
        "Notification", json.dumps(COMPLAINT), version="2", Subject="Amazon SES Complaint"
    )
    message = await verifier().verify(encode(envelope))
    assert message.subject == "Amazon SES Complaint"
    (event,) = parse_ses(message)
    assert (event.kind, event.address, event.permanent) == (EventKind.COMPLAINED, "richard@example.com", True)
    assert event.detail == "complaint: abuse"


async def test_ses_event_publishing_delivery_reads_the_message_id_from_the_headers() -> None:
    events = parse_ses(await verifier().verify(encode(notification(DELIVERY))))
    assert [(e.kind, e.address, e.permanent, e.message_id) for e in events] == [
        (EventKind.DELIVERED, "jane@example.com", False, OUR_ID),
        (EventKind.DELIVERED, "mary@example.com", False, OUR_ID),
    ]
    assert events[0].detail == "250 ok: Message 64111812 accepted"
    assert events[0].occurred_at == datetime(2026, 3, 2, 11, 59, 39, tzinfo=UTC)


@pytest.mark.parametrize(
    ("bounce_type", "permanent"), [("Permanent", True), ("Transient", False), ("Undetermined", False)]
)
def test_ses_only_a_permanent_bounce_is_permanent(bounce_type: str, permanent: bool) -> None:
    payload = {**BOUNCE, "bounce": {**BOUNCE["bounce"], "bounceType": bounce_type}}
    message = SnsMessage(
        type="Notification", message_id="m", topic_arn=TOPIC, message=json.dumps(payload), timestamp=NOW
    )
    assert [e.permanent for e in parse_ses(message)] == [permanent]


@pytest.mark.parametrize("type_", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
async def test_sns_confirmations_verify_and_expose_the_subscribe_url(type_: str) -> None:
    subscribe_url = (
        f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37"
    )
    envelope = sns_envelope(
        type_,
        # The real text holds a newline: signed as the decoded JSON string, not its escaped form.
        f"You have chosen to subscribe to the topic {TOPIC}.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message.",
        version="2",
        SubscribeURL=subscribe_url,
        Token="2336412f37",
    )
    message = await verifier().verify(encode(envelope))
    assert (message.type, message.subscribe_url, message.token) == (type_, subscribe_url, "2336412f37")
    assert parse_ses(message) == []


async def test_sns_confirmation_token_is_signed() -> None:
    envelope = sns_envelope(
        "SubscriptionConfirmation",
        "confirm",
        SubscribeURL="https://sns.us-east-1.amazonaws.com/?a=1",
        Token="t1",
    )
    assert await sns_code(encode({**envelope, "Token": "t2"})) == "bad_signature"


async def test_sns_certificates_are_fetched_once_and_the_cache_is_bounded() -> None:
    urls = [CERT_URL.replace(".pem", f"-{n}.pem") for n in range(3)]
    fetcher = FakeFetcher(dict.fromkeys(urls, GOOD_CERT))
    checker = verifier(fetcher, cache_size=2)

    def signed_with(url: str) -> bytes:
        return encode({**notification(BOUNCE), "SigningCertURL": url})

    for url in [urls[0], urls[0], urls[1], urls[0], urls[2], urls[0], urls[1]]:
        await checker.verify(signed_with(url))
    # urls[1] was the least recently used when urls[2] arrived, so only it is fetched again.
    assert fetcher.calls == [urls[0], urls[1], urls[2], urls[1]]


async def test_sns_tampered_message_is_refused() -> None:
    envelope = notification(BOUNCE)
    envelope["Message"] = envelope["Message"].replace("jane@example.com", "ceo@example.com")
    assert await sns_code(encode(envelope)) == "bad_signature"


async def test_sns_subject_is_signed_only_when_present() -> None:
    with_subject = sns_envelope("Notification", "{}", Subject="Amazon SES Bounce")
    assert (
        await sns_code(encode({k: v for k, v in with_subject.items() if k != "Subject"})) == "bad_signature"
    )
    assert await sns_code(encode({**notification(BOUNCE), "Subject": "injected"})) == "bad_signature"


async def test_sns_signature_from_another_key_than_the_certificates_is_refused() -> None:
    assert await sns_code(encode(sns_envelope("Notification", "{}", key=OTHER_RSA_KEY))) == "bad_signature"


async def test_sns_signature_version_must_match_the_digest() -> None:
    signed_sha1 = sns_envelope("Notification", "{}", version="1")
    assert await sns_code(encode({**signed_sha1, "SignatureVersion": "2"})) == "bad_signature"
    assert await sns_code(encode({**signed_sha1, "SignatureVersion": "3"})) == "bad_signature"
    assert await sns_code(encode({**signed_sha1, "Signature": "%%%not base64%%%"})) == "bad_signature"


@pytest.mark.parametrize(
    ("not_before", "not_after"),
    [
        (NOW - timedelta(days=400), NOW - timedelta(seconds=1)),
        (NOW + timedelta(days=1), NOW + timedelta(days=400)),
    ],
    ids=["expired", "not-yet-valid"],
)
async def test_sns_certificate_outside_its_validity_is_refused(
    not_before: datetime, not_after: datetime
) -> None:
    fetcher = FakeFetcher({CERT_URL: certificate(not_before=not_before, not_after=not_after)})
    assert await sns_code(encode(notification(BOUNCE)), verifier(fetcher)) == "expired_certificate"


async def test_sns_certificate_that_is_not_a_usable_rsa_certificate_is_refused() -> None:
    assert (
        await sns_code(encode(notification(BOUNCE)), verifier(FakeFetcher({CERT_URL: b"<html>"})))
        == "bad_certificate"
    )
    ec_cert = certificate(ec.generate_private_key(ec.SECP256R1()))
    assert (
        await sns_code(encode(notification(BOUNCE)), verifier(FakeFetcher({CERT_URL: ec_cert})))
        == "bad_certificate"
    )


async def test_sns_certificate_fetch_failure_is_reported_and_not_cached() -> None:
    fetcher = FakeFetcher({})
    checker = verifier(fetcher)
    assert await sns_code(encode(notification(BOUNCE)), checker) == "certificate_unavailable"
    fetcher.certificates[CERT_URL] = GOOD_CERT
    assert (await checker.verify(encode(notification(BOUNCE)))).type == "Notification"
    assert fetcher.calls == [CERT_URL, CERT_URL]


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.evil.com/amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-1.pem",
        "https://sns.us-east-1.amazonaws.com@evil.com/x.pem",
        "https://user:pw@sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com:8443/x.pem",
        "https://sns.us-east-1.amazonaws.com/x.pem?.pem",
        "https://sns.us-east-1.amazonaws.com/x.pem#.pem",
        "https://sns.us-east-1.amazonaws.com/x.txt",
        "https://sns.us-east-1.amazonaws.com\\@evil.com/x.pem",
        "https://sns.us-east-1.amazonaws.com/x.pem\n",
        "https://evilsns.us-east-1.amazonaws.com/x.pem",
        "https://sns.s3-us-west-2.amazonaws.com/x.pem",  # an S3 bucket called "sns", anyone's to fill
        "https://sns.s3.amazonaws.com/x.pem",
        "https://SNS.US-EAST-1.AMAZONAWS.COM/x.pem",
        "//sns.us-east-1.amazonaws.com/x.pem",
    ],
)
async def test_sns_certificate_url_outside_sns_is_refused_without_fetching(url: str) -> None:
    fetcher = FakeFetcher()
    envelope = {**notification(BOUNCE), "SigningCertURL": url}
    assert await sns_code(encode(envelope), verifier(fetcher)) == "untrusted_certificate_url"
    assert fetcher.calls == []


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-3242f8ea.pem",
        "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-9c6465fa.pem",
        "https://sns.ap-southeast-2.amazonaws.com/SimpleNotificationService-9c6465fa.pem",
    ],
)
async def test_sns_certificate_urls_in_every_partition_are_trusted(url: str) -> None:
    fetcher = FakeFetcher({url: GOOD_CERT})
    await verifier(fetcher).verify(encode({**notification(BOUNCE), "SigningCertURL": url}))
    assert fetcher.calls == [url]


async def test_sns_topic_not_allowed_is_refused_before_fetching() -> None:
    fetcher = FakeFetcher()
    envelope = sns_envelope(
        "Notification", json.dumps(BOUNCE), TopicArn="arn:aws:sns:us-east-1:999999999999:attacker"
    )
    assert await sns_code(encode(envelope), verifier(fetcher)) == "topic_not_allowed"
    assert fetcher.calls == []
    # Without an allow-list any genuinely signed topic passes: hence the verifier's warning.
    assert (await verifier(fetcher, allowed_topic_arns=None).verify(encode(envelope))).topic_arn.endswith(
        ":attacker"
    )


@pytest.mark.parametrize("published", [NOW - timedelta(hours=1, seconds=1), NOW + timedelta(minutes=6)])
async def test_sns_old_or_future_message_is_stale(published: datetime) -> None:
    fetcher = FakeFetcher()
    envelope = sns_envelope("Notification", json.dumps(BOUNCE), published=published)
    assert await sns_code(encode(envelope), verifier(fetcher)) == "stale"
    assert fetcher.calls == []


async def test_sns_oversized_body_is_refused() -> None:
    assert await sns_code(b"{" + b" " * MAX_SNS_BODY_BYTES + b"}") == "too_large"


@pytest.mark.parametrize(
    "body",
    [
        b"Type=Notification&Message=hi",
        b"[]",
        encode({**notification(BOUNCE), "Message": {"notificationType": "Bounce"}}),
        encode({**notification(BOUNCE), "Timestamp": 1772452800}),
        encode({k: v for k, v in notification(BOUNCE).items() if k != "Signature"}),
        encode({k: v for k, v in notification(BOUNCE).items() if k != "SigningCertURL"}),
        encode({**notification(BOUNCE), "Type": "Surprise"}),
        encode({**notification(BOUNCE), "Timestamp": "yesterday"}),
        encode(
            {
                k: v
                for k, v in sns_envelope(
                    "SubscriptionConfirmation", "c", SubscribeURL="https://x", Token="t"
                ).items()
                if k != "Token"
            }
        ),
    ],
    ids=[
        "form-encoded",
        "array",
        "message-object",
        "timestamp-int",
        "no-signature",
        "no-cert-url",
        "unknown-type",
        "bad-time",
        "confirmation-without-token",
    ],
)
async def test_sns_malformed_envelope_is_refused(body: bytes) -> None:
    assert await sns_code(body) == "malformed"


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        json.dumps(["Bounce"]),
        json.dumps({"mail": {}}),
        json.dumps({**BOUNCE, "bounce": {**BOUNCE["bounce"], "bouncedRecipients": "jane@example.com"}}),
        json.dumps({**BOUNCE, "bounce": {**BOUNCE["bounce"], "bouncedRecipients": [{"emailAddress": 7}]}}),
        json.dumps({**COMPLAINT, "mail": None}),
        json.dumps({**DELIVERY, "delivery": {"timestamp": "2026-03-02T11:59:39Z", "recipients": [None]}}),
    ],
    ids=["text", "array", "no-type", "recipients-string", "address-int", "no-mail", "recipient-null"],
)
def test_ses_malformed_notification_is_refused(payload: str) -> None:
    message = SnsMessage(type="Notification", message_id="m", topic_arn=TOPIC, message=payload, timestamp=NOW)
    with pytest.raises(WebhookRejected) as caught:
        parse_ses(message)
    assert caught.value.code == "malformed"


def test_ses_notifications_we_do_not_act_on_are_skipped() -> None:
    for payload in (
        {"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "ok"},
        {"eventType": "Open", "mail": {}},
    ):
        message = SnsMessage(
            type="Notification", message_id="m", topic_arn=TOPIC, message=json.dumps(payload), timestamp=NOW
        )
        assert parse_ses(message) == []


async def test_production_fetcher_refuses_untrusted_urls_without_connecting() -> None:
    for url in (
        "http://sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com@evil.com/x.pem",
    ):
        with pytest.raises(WebhookRejected) as caught:
            await fetch_certificate_https(url)
        assert caught.value.code == "untrusted_certificate_url"


def test_production_fetcher_reads_at_most_the_cap() -> None:
    assert ses._read_capped(io.BytesIO(b"x" * 10), 10) == b"x" * 10
    with pytest.raises(ValueError, match="over 10 bytes"):
        ses._read_capped(io.BytesIO(b"x" * 11), 10)
