"""DKIM for sending domains: make keys, publish their DNS records, and sign outgoing messages.

The standard's moving parts (relaxed canonicalization, choosing which header instances are hashed,
stripping b= and folding the DKIM-Signature field) come from dkimpy. Its `DKIM.sign` is not used:
it parses the PEM again on every call, signs RSA with pure-Python big-integer arithmetic (~180/s per
core at 2048 bits) and needs pynacl for Ed25519. Here keys are parsed once, the message is
canonicalized once however many keys sign it, and `cryptography` (OpenSSL) makes the signatures.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import hashlib
import re
import time
from collections.abc import Sequence
from concurrent.futures import Executor

import dkim as dkimpy
import msgspec
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from justmaily.shared.verify.evidence import relaxed_body

_RSA_BITS = 2048  # RFC 8301: signers SHOULD use at least 2048 bits...
_RSA_MIN_BITS = 1024  # ...and verifiers MUST NOT accept fewer than 1024.
_TXT_CHUNK = 255  # one DNS character-string holds at most 255 bytes
_FIELD = b"DKIM-Signature"
# Always in h=, present or not: a header signed while absent cannot be added later. RFC 8058 requires
# both List-Unsubscribe fields to be signed. "from" is listed twice (over-signed) so that no second
# From header can be added without breaking the signature.
_SIGNED_FIELDS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)
_SIGNED_PREFIX = b"x-justmaily-"  # our own headers are signed whenever present
# Gmail's feedback loop expects Feedback-ID signed; the certificate pointer must not be swappable.
_SIGNED_IF_PRESENT = frozenset({b"feedback-id", b"justmaily-certificate"})
_LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


class DkimAlgorithm(enum.StrEnum):
    RSA_SHA256 = "rsa-sha256"
    ED25519_SHA256 = "ed25519-sha256"  # RFC 8463


_ALGORITHMS = frozenset(DkimAlgorithm)


class DkimKeyError(ValueError):
    """A DKIM key cannot be used: not PEM, not the algorithm it claims, too short, or a bad name."""


class DkimKey(msgspec.Struct, frozen=True, kw_only=True):
    """One signing key of a domain; the public half is published at `<selector>._domainkey.<domain>`."""

    domain: str  # the d= domain, ASCII (IDNA)
    selector: str
    algorithm: DkimAlgorithm
    private_key_pem: bytes  # PKCS#8 PEM, unencrypted

    def __post_init__(self) -> None:
        if self.algorithm not in _ALGORITHMS:
            raise DkimKeyError(f"unknown DKIM algorithm: {self.algorithm!r}")
        for label, name in (("domain", self.domain), ("selector", self.selector)):
            if not (name.isascii() and _DNS_NAME.fullmatch(name)):
                raise DkimKeyError(f"DKIM {label} is not an ASCII DNS name: {name!r}")

    def __repr__(self) -> str:  # never show the private key in logs or tracebacks
        return f"DkimKey(domain={self.domain!r}, selector={self.selector!r}, algorithm={self.algorithm!r})"


class DnsRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The TXT record that publishes a key's public half."""

    name: str  # <selector>._domainkey.<domain>
    value: str  # "v=DKIM1; k=rsa; p=<base64>"
    chunks: tuple[str, ...]  # `value` cut into the <= 255-character strings a TXT record is made of
    type: str = "TXT"


def generate_key(domain: str, selector: str, algorithm: DkimAlgorithm) -> DkimKey:
    """A new key: RSA 2048 bits or Ed25519."""
    private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if algorithm == DkimAlgorithm.RSA_SHA256:
        private = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return DkimKey(domain=domain, selector=selector, algorithm=algorithm, private_key_pem=pem)


def dns_record(key: DkimKey) -> DnsRecord:
    """The DNS TXT record to publish for `key` (RFC 6376 3.6.1; RFC 8463 for Ed25519)."""
    private = _load(key)
    if isinstance(private, rsa.RSAPrivateKey):
        tag = "rsa"
        public = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        tag = "ed25519"  # the bare 32-byte key, not SubjectPublicKeyInfo
        public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    value = f"v=DKIM1; k={tag}; p={base64.b64encode(public).decode('ascii')}"
    chunks = tuple(value[i : i + _TXT_CHUNK] for i in range(0, len(value), _TXT_CHUNK))
    return DnsRecord(name=f"{key.selector}._domainkey.{key.domain}", value=value, chunks=chunks)


class DkimSigner:
    """Signs messages with one or more keys (RFC 8463 suggests an RSA and an Ed25519 signature)."""

    def __init__(self, keys: Sequence[DkimKey]) -> None:
        if not keys:
            raise DkimKeyError("DkimSigner needs at least one key")
        self._keys = [_LoadedKey(key) for key in keys]

    def sign(self, message: bytes) -> bytes:
        """`message` with one DKIM-Signature header per key in front, in the order the keys were given.

        `message` must use CRLF line endings throughout, as SMTP carries it and `compose` writes it.
        """
        return self.signed(message)[0]

    def signed(self, message: bytes) -> tuple[bytes, str]:
        """As `sign`, and the body hash the signatures carry (bh=, base64): the body's evidence."""
        signing = self._prepare(message)
        return signing.assemble(signing.compute()), signing.body_hash

    async def signed_on(self, threads: Executor, message: bytes) -> tuple[bytes, str]:
        """As `signed`, with the signatures made on `threads`. OpenSSL lets go of the GIL while it
        signs, so the event loop goes on meanwhile: an RSA-2048 signature (~0.4 ms) was a third of a
        sending process's event-loop time. (An executor rather than anyio's `to_thread`: half the
        event loop's overhead per call, ~20 µs, measured.)"""
        signing = self._prepare(message)
        signatures = await asyncio.get_running_loop().run_in_executor(threads, signing.compute)
        return signing.assemble(signatures), signing.body_hash

    def _prepare(self, message: bytes) -> Signing:
        """Canonicalize and hash once for all keys; `Signing` makes the signatures and fields."""
        end = message.find(b"\r\n\r\n")
        if end < 0:
            raise ValueError("message has no empty line between header and body")
        body = message[end + 4 :]
        # A bare LF would be hashed here as it stands but read by a verifier as a line break.
        if body.count(b"\n") != body.count(b"\r\n"):
            raise ValueError("message body has bare LF line endings; DKIM needs CRLF")
        headers = dkimpy.rfc822_parse(message[: end + 2])[0]
        present = [name.lower() for name, _ in headers]
        include = [
            *_SIGNED_FIELDS,
            *(n for n in present if n.startswith(_SIGNED_PREFIX) or n in _SIGNED_IF_PRESENT),
            b"from",
        ]
        # The signed fields come first in every key's hash and are the same for all keys: hashed once
        # here, then each key's hash goes on from a copy with its own DKIM-Signature field.
        signed = hashlib.sha256()
        canonical = [(name.lower().rstrip(), _relaxed_header_value(value)) for name, value in headers]
        for name, value in dkimpy.select_headers(canonical, include):
            signed.update(b"%b:%b\r\n" % (name, value))
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())
        tags = b"c=relaxed/relaxed; t=%d; h=%b; bh=%b" % (int(time.time()), b" : ".join(include), body_hash)
        return Signing(message, [key.unsigned_field(tags, signed) for key in self._keys], body_hash.decode())


class Signing:
    """One message on its way to being signed: the digests to sign, then the signed message."""

    def __init__(self, message: bytes, fields: list[tuple[_LoadedKey, bytes, bytes]], body_hash: str) -> None:
        self._message = message
        self._fields = fields
        self.body_hash = body_hash

    def compute(self) -> list[bytes]:
        """The signatures, one per key (the public-key operations: most of the cost)."""
        return [key.raw_signature(digest) for key, _unsigned, digest in self._fields]

    def assemble(self, signatures: list[bytes]) -> bytes:
        fields = (
            _FIELD
            + b": "
            + dkimpy.fold(unsigned + base64.b64encode(signature), namelen=len(_FIELD))
            + b"\r\n"
            for (_key, unsigned, _digest), signature in zip(self._fields, signatures, strict=True)
        )
        return b"".join(fields) + self._message


class _LoadedKey:
    """A parsed private key and the fixed part of its signature's tag list."""

    def __init__(self, key: DkimKey) -> None:
        self._private = _load(key)
        self._prefix = b"v=1; a=%b; d=%b; s=%b; " % (
            key.algorithm.encode("ascii"),
            key.domain.encode("ascii"),
            key.selector.encode("ascii"),
        )

    def unsigned_field(self, tags: bytes, signed: hashlib._Hash) -> tuple[_LoadedKey, bytes, bytes]:
        """The field with an empty b=, and the digest to sign: `signed` (the hash of the signed
        header fields, relaxed) continued with this field, relaxed and without its CRLF, as dkimpy's
        `hash_headers` does (RFC 6376 3.7).

        Relaxed canonicalization ignores folding, so re-folding with the signature changes nothing.
        """
        unsigned = dkimpy.fold(self._prefix + tags + b"; b=", namelen=len(_FIELD))
        hasher = signed.copy()
        hasher.update(b"dkim-signature:%b" % _relaxed_header_value(unsigned))
        return self, unsigned, hasher.digest()

    def raw_signature(self, digest: bytes) -> bytes:
        if isinstance(self._private, rsa.RSAPrivateKey):
            return self._private.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        return self._private.sign(digest)  # RFC 8463: PureEdDSA over the SHA-256 digest


def _relaxed_header_value(value: bytes) -> bytes:
    """RFC 6376 3.4.2 relaxed canonicalization of a header field's value, without the final CRLF;
    the same bytes as dkimpy's `Relaxed.canonicalize_headers`, whose two regular expressions per
    field took most of the time spent hashing the header."""
    value = value.replace(b"\r\n", b"").replace(b"\n", b"")  # unfold
    if b"\t" in value:
        value = value.replace(b"\t", b" ")
    while b"  " in value:  # each pass halves every run of spaces
        value = value.replace(b"  ", b" ")
    return value.strip()


def _load(key: DkimKey) -> rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
    where = f"DKIM key {key.selector}._domainkey.{key.domain}"
    try:
        private = serialization.load_pem_private_key(key.private_key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # TypeError: the PEM is encrypted; ValueError: not a PEM private key at all.
        raise DkimKeyError(f"{where}: not an unencrypted PEM private key ({exc})") from exc
    if key.algorithm == DkimAlgorithm.RSA_SHA256:
        if not isinstance(private, rsa.RSAPrivateKey):
            raise DkimKeyError(f"{where}: algorithm is rsa-sha256 but the key is {type(private).__name__}")
        if private.key_size < _RSA_MIN_BITS:
            raise DkimKeyError(f"{where}: RSA key of {private.key_size} bits; receivers need >= 1024")
        return private
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise DkimKeyError(f"{where}: algorithm is ed25519-sha256 but the key is {type(private).__name__}")
    return private
