"""JWT access and refresh tokens signed with Ed25519; every token names its key (`kid`).

Verification looks the key up by `kid`, so a new signing key can be introduced while tokens
signed by the old one stay valid until they expire.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

TokenType = Literal["access", "refresh", "room"]
_ALGORITHM = "EdDSA"
_ISSUER = "justmaily"


class InvalidTokenError(Exception):
    """The token is malformed, expired, of the wrong type or signed by an unknown key."""


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:12]).decode()


class TokenSigner:
    def __init__(self, signing_key: Ed25519PrivateKey, verify_only: list[Ed25519PublicKey] | None = None):
        self._signing_key = signing_key
        self.kid = key_id(signing_key.public_key())
        public = [signing_key.public_key(), *(verify_only or [])]
        self._public_keys = {key_id(k): k for k in public}

    def issue(
        self, token_type: TokenType, subject: uuid.UUID, now: datetime, ttl: timedelta, **claims: Any
    ) -> tuple[str, uuid.UUID]:
        jti = uuid.uuid4()
        payload = {
            "iss": _ISSUER,
            "sub": str(subject),
            "typ": token_type,
            "jti": str(jti),
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            **claims,
        }
        token = jwt.encode(payload, self._signing_key, algorithm=_ALGORITHM, headers={"kid": self.kid})
        return token, jti

    def verify(self, token: str, token_type: TokenType) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._public_keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise InvalidTokenError("token signed by an unknown key")
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"require": ["exp", "iat", "sub", "jti", "typ"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(str(exc)) from exc
        if claims.get("typ") != token_type:
            raise InvalidTokenError(f"expected an {token_type} token")
        return claims
