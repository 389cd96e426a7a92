"""DKIM keys, DNS records and signatures, checked with dkimpy's verifier against the published record."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from datetime import UTC, datetime

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from dkim.canonicalization import Relaxed
from dkim.util import parse_tag_value

from justmaily.server.delivery.transport.dkim import (
    DkimAlgorithm,
    DkimKey,
    DkimKeyError,
    DkimSigner,
    _relaxed_header_value,
    dns_record,
    generate_key,
)
from justmaily.server.delivery.transport.message import Envelope, compose
from justmaily.shared.verify.evidence import relaxed_body

DnsFunc = Callable[..., bytes | None]

# A 512-bit RSA key: cryptography refuses to generate one, and receivers refuse to trust one.
WEAK_RSA_PEM = b"""-----BEGIN PRIVATE KEY-----
MIIBVgIBADANBgkqhkiG9w0BAQEFAASCAUAwggE8AgEAAkEAzckX/cMlx97RqfZa
4W16m4dPWgvCyjdAuyUNLvxdF61Wou+8KltAagD5Y88mTDqexbv2dVOeCX5eDys+
XkWqZQIDAQABAkEAnFFwVwSBU4Vv8NLBkFIwe6paXcVnT2KPWlm33QQ41v0oQ0k0
fQz+YGqJpTd4hhqjL5KMHYgDCi3dK5Sq01UulQIhAPn8vR17Xdom7BlfjfzfWmKg
z1a95fqNx/PtO1ZWWo3PAiEA0rwwY6X/o6oSg7FVhYbBoar9tVGpQXWb71uBl15Y
ZYsCIQCLDUCMc6DCxb+yZWpvbDW0gsqR71NLSS4dyqmk3qfEFQIhAKjHcpYM2H8z
cpqpCA7mi+S4t3RmUAIOePKuvk8GkBPbAiB9YSSJy1f4gsctArOJCgBZyqKhRkJp
wiBAJmAGI6gM9g==
-----END PRIVATE KEY-----
"""


@pytest.fixture(scope="module")
def rsa_key() -> DkimKey:
    return generate_key("acme.example", "rsa2026", DkimAlgorithm.RSA_SHA256)


@pytest.fixture(scope="module")
def ed_key() -> DkimKey:
    return generate_key("acme.example", "ed2026", DkimAlgorithm.ED25519_SHA256)


@pytest.fixture(scope="module")
def dnsfunc(rsa_key: DkimKey, ed_key: DkimKey) -> DnsFunc:
    """Answers dkimpy's TXT lookups (`b"<selector>._domainkey.<domain>."`) from `dns_record`."""
    records = {}
    for key in (rsa_key, ed_key):
        record = dns_record(key)
        # A resolver hands back the record's strings concatenated.
        records[f"{record.name}.".encode()] = "".join(record.chunks).encode()

    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        return records.get(name)

    return lookup


@pytest.fixture(scope="module")
def message() -> bytes:
    return compose(
        Envelope(
            sender_name="Acme, Inc.",
            sender_address="news@acme.example",
            recipient_name="Jörg Grüße 👋",
            recipient_address="jorg@example.org",
            subject="Grüße 👋 from Acme",
            text="Hello\n\ntrailing   \nFrom here\n" + "x" * 2000 + "\n",
            html='<!doctype html>\n<html><body><p  class="a">\tGrüße</p></body></html>\n',
            message_id="0123456789abcdef@acme.example",
            date=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
            list_unsubscribe_url="https://acme.example/u/tok3n",
            list_unsubscribe_mailto="mailto:unsubscribe@acme.example?subject=tok3n",
            extra_headers=(("X-JustMaily-Certificate", "jm1.abc.def"), ("Feedback-ID", "c1:s2:acme:jm")),
        )
    )


def signature_tags(signed: bytes, index: int = 0) -> dict[bytes, bytes]:
    fields = [value for name, value in dkim.rfc822_parse(signed)[0] if name.lower() == b"dkim-signature"]
    tags: dict[bytes, bytes] = parse_tag_value(fields[index])
    return tags


def verifies(signed: bytes, dnsfunc: DnsFunc, index: int) -> bool:
    # Unlike the module-level `dkim.verify`, `DKIM.verify` raises on a body hash mismatch.
    try:
        result: bool = dkim.DKIM(signed).verify(idx=index, dnsfunc=dnsfunc)
    except dkim.DKIMException:
        return False
    return result


@pytest.mark.parametrize("algorithm", list(DkimAlgorithm))
def test_signature_verifies(
    algorithm: DkimAlgorithm, rsa_key: DkimKey, ed_key: DkimKey, dnsfunc: DnsFunc, message: bytes
) -> None:
    key = rsa_key if algorithm is DkimAlgorithm.RSA_SHA256 else ed_key

    signed = DkimSigner([key]).sign(message)

    assert signed.endswith(message)
    assert signed.count(b"DKIM-Signature:") == 1
    assert dkim.verify(signed, dnsfunc=dnsfunc)
    tags = signature_tags(signed)
    assert tags[b"a"] == algorithm.encode()
    assert (tags[b"d"], tags[b"s"], tags[b"c"]) == (
        b"acme.example",
        key.selector.encode(),
        b"relaxed/relaxed",
    )
    signed_fields = [name.strip() for name in tags[b"h"].split(b":")]
    assert signed_fields == [
        b"from",
        b"to",
        b"subject",
        b"date",
        b"message-id",
        b"mime-version",
        b"content-type",
        b"list-unsubscribe",
        b"list-unsubscribe-post",
        b"x-justmaily-certificate",
        b"feedback-id",
        b"from",  # over-signed: a second From header cannot be added
    ]
    assert all(len(line) <= 78 for line in signed.split(b"\r\n\r\n", 1)[0].split(b"\r\n"))


def test_dual_signature_verifies_both(
    rsa_key: DkimKey, ed_key: DkimKey, dnsfunc: DnsFunc, message: bytes
) -> None:
    signed = DkimSigner([rsa_key, ed_key]).sign(message)

    assert [signature_tags(signed, i)[b"a"] for i in (0, 1)] == [b"rsa-sha256", b"ed25519-sha256"]
    assert verifies(signed, dnsfunc, 0)
    assert verifies(signed, dnsfunc, 1)


def test_a_message_not_from_compose_is_signed_too(ed_key: DkimKey, dnsfunc: DnsFunc) -> None:
    message = (
        b"From: a@acme.example\r\nSubject:  spaced \t out \r\n  and folded\r\n\r\nbody \t text\r\n\r\n\r\n"
    )

    signed = DkimSigner([ed_key]).sign(message)

    assert dkim.verify(signed, dnsfunc=dnsfunc)


def tamper_body(signed: bytes) -> bytes:
    head, body = signed.split(b"\r\n\r\n", 1)
    return head + b"\r\n\r\n" + body.replace(b"Hello", b"Hellp", 1)


def tamper_subject(signed: bytes) -> bytes:
    start = signed.index(b"\r\nSubject: ") + 2
    end = signed.index(b"\r\n", start)
    return signed[:start] + b"Subject: You won a prize" + signed[end:]


def add_from(signed: bytes) -> bytes:
    return b"From: Acme Support <support@evil.example>\r\n" + signed


def add_from_below(signed: bytes) -> bytes:
    at = signed.index(b"\r\nFrom: ") + 2
    return signed[:at] + b"From: support@evil.example\r\n" + signed[at:]


@pytest.mark.parametrize("tamper", [tamper_body, tamper_subject, add_from, add_from_below])
def test_tampering_breaks_every_signature(
    tamper: Callable[[bytes], bytes], rsa_key: DkimKey, ed_key: DkimKey, dnsfunc: DnsFunc, message: bytes
) -> None:
    signed = DkimSigner([rsa_key, ed_key]).sign(message)
    assert verifies(signed, dnsfunc, 0)

    tampered = tamper(signed)

    assert tampered != signed
    assert not verifies(tampered, dnsfunc, 0)
    assert not verifies(tampered, dnsfunc, 1)


def test_rsa_dns_record(rsa_key: DkimKey) -> None:
    record = dns_record(rsa_key)

    assert record.name == "rsa2026._domainkey.acme.example"
    assert record.type == "TXT"
    assert record.value.startswith("v=DKIM1; k=rsa; p=")
    assert "".join(record.chunks) == record.value
    assert len(record.chunks) > 1
    assert all(len(chunk) <= 255 for chunk in record.chunks)
    public = serialization.load_der_public_key(base64.b64decode(record.value.split("p=", 1)[1]))
    private = serialization.load_pem_private_key(rsa_key.private_key_pem, password=None)
    assert isinstance(public, rsa.RSAPublicKey)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert public.public_numbers() == private.public_key().public_numbers()
    assert private.key_size == 2048


def test_ed25519_dns_record(ed_key: DkimKey) -> None:
    record = dns_record(ed_key)

    assert record.name == "ed2026._domainkey.acme.example"
    assert record.value.startswith("v=DKIM1; k=ed25519; p=")
    assert record.chunks == (record.value,)
    raw = base64.b64decode(record.value.split("p=", 1)[1])
    private = serialization.load_pem_private_key(ed_key.private_key_pem, password=None)
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    assert raw == private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def test_generated_keys_are_unencrypted_pkcs8(rsa_key: DkimKey, ed_key: DkimKey) -> None:
    for key in (rsa_key, ed_key):
        assert key.private_key_pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")


def test_repr_does_not_show_the_private_key(rsa_key: DkimKey) -> None:
    assert "PRIVATE" not in repr(rsa_key)
    assert "rsa2026" in repr(rsa_key)


def test_unusable_keys_are_refused(rsa_key: DkimKey, ed_key: DkimKey) -> None:
    encrypted = serialization.load_pem_private_key(ed_key.private_key_pem, password=None).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass phrase"),
    )
    cases = [
        (DkimAlgorithm.RSA_SHA256, b"not a key", "not an unencrypted PEM"),
        (DkimAlgorithm.ED25519_SHA256, encrypted, "not an unencrypted PEM"),
        (DkimAlgorithm.RSA_SHA256, ed_key.private_key_pem, "the key is"),
        (DkimAlgorithm.ED25519_SHA256, rsa_key.private_key_pem, "the key is"),
        (DkimAlgorithm.RSA_SHA256, WEAK_RSA_PEM, "512 bits"),
    ]
    for algorithm, pem, complaint in cases:
        key = DkimKey(domain="acme.example", selector="s1", algorithm=algorithm, private_key_pem=pem)
        with pytest.raises(DkimKeyError, match=complaint):
            DkimSigner([key])
        with pytest.raises(DkimKeyError, match=complaint):
            dns_record(key)


@pytest.mark.parametrize(
    ("domain", "selector"),
    [("acme.example\r\nBcc: x", "s1"), ("acme.example", "s1; b=x"), ("grüße.example", "s1"), ("", "s1")],
)
def test_bad_names_are_refused(domain: str, selector: str, ed_key: DkimKey) -> None:
    with pytest.raises(DkimKeyError, match="DNS name"):
        DkimKey(domain=domain, selector=selector, algorithm=ed_key.algorithm, private_key_pem=b"")


def test_a_signer_needs_a_key() -> None:
    with pytest.raises(DkimKeyError):
        DkimSigner([])


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        (b"From: a@acme.example\r\nSubject: no body separator\r\n", "no empty line"),
        (b"From: a@acme.example\r\n\r\nbare\nLF\r\n", "bare LF"),
    ],
)
def test_malformed_messages_are_refused(message: bytes, complaint: str, ed_key: DkimKey) -> None:
    with pytest.raises(ValueError, match=complaint):
        DkimSigner([ed_key]).sign(message)


def test_fast_body_canonicalization_matches_dkimpy() -> None:
    bodies = [
        b"",
        b"\r\n",
        b"\r\n\r\n\r\n",
        b"text",
        b"text \t ",
        b"a  b\t\tc \t d\r\n \r\n\t\r\n\r\n",
        b" " * 1000 + b"x\r\n",
    ]
    rng = random.Random(8463)
    bodies += [bytes(rng.choices(b" \t\r\nab=", k=rng.randrange(40))) for _ in range(3000)]

    for body in bodies:
        assert relaxed_body(body) == Relaxed.canonicalize_body(body), body


def test_fast_header_canonicalization_matches_dkimpy() -> None:
    values = [b"", b" x", b" a  b\t\tc \t d\r\n", b" folded\r\n  line\r\n\tthird \r\n", b"\t \r\n"]
    rng = random.Random(6376)
    values += [bytes(rng.choices(b" \t\r\nab=;", k=rng.randrange(40))) for _ in range(3000)]

    for value in values:
        ((_name, canonical),) = Relaxed.canonicalize_headers([(b"Subject", value)])
        assert _relaxed_header_value(value) + b"\r\n" == canonical, value
