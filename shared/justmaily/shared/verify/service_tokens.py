"""Service tokens: how a process holding a service credential signs in to the API.

A token is a JWT (RFC 7519) signed ES256 with the credential's P-256 key, carrying the
credential's certificate in its `x5c` header (RFC 7515 4.1.6): the server checks the certificate
against its CA and revocations, then the signature with the certificate's key. It lives at most
SERVICE_TOKEN_MAX_SECONDS, so a process makes a fresh one every few minutes; the private key
never leaves the process. Written with `cryptography` alone so any agent can use it without a
JWT library; the server verifies with PyJWT.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from justmaily.shared.trust import SERVICE_TOKEN_MAX_SECONDS


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_service_token(
    certificate_pem: str | bytes,
    private_key_pem: str | bytes,
    *,
    audience: str,
    now: datetime | None = None,
    lifetime: int = SERVICE_TOKEN_MAX_SECONDS,
) -> str:
    """A token for `Authorization: Bearer …` at the server whose public URL is `audience`."""
    certificate = x509.load_pem_x509_certificate(_bytes(certificate_pem))
    key = serialization.load_pem_private_key(_bytes(private_key_pem), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("a service credential's key is a P-256 key")
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    issued = int((now or datetime.now(UTC)).timestamp())
    header = {
        "alg": "ES256",
        "typ": "JWT",
        "x5c": [base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")],
    }
    claims = {
        "sub": str(names[0].value) if names else "",
        "aud": audience,
        "iat": issued,
        "exp": issued + lifetime,
    }
    signing_input = f"{_b64url(_json(header))}.{_b64url(_json(claims))}"
    r, s = decode_dss_signature(key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _bytes(value: str | bytes) -> bytes:
    return value.encode("ascii") if isinstance(value, str) else value
