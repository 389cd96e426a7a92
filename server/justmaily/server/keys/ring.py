"""Every key the server holds, loaded in one call at start-up (made on first use).

Where each lives: the data folder by default, or the file its setting names. Every replica of
an installation needs the same files (docs/configuration.md). Key management (wrapping, rotation)
grows here; the domains only use the keys they are handed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from justmaily.server.keys.files import bearer_token, ed25519_key, fernet_key, p256_key, random_key
from justmaily.server.keys.sealed import SecretBox
from justmaily.server.settings import Settings


@dataclass(frozen=True)
class KeyRing:
    access_tokens: Ed25519PrivateKey = field(repr=False)  # signs people's tokens and room tickets
    secrets: SecretBox = field(repr=False)  # seals relay passwords and DKIM keys in the database
    link_tokens: bytes = field(repr=False)  # HMAC of the links in sent messages
    log: Ed25519PrivateKey = field(repr=False)  # signs the transparency log's tree heads
    ca: ec.EllipticCurvePrivateKey = field(repr=False)  # the internal CA's (certificate: trust/ca.py)
    metrics_token: str = field(repr=False)  # what Prometheus presents to scrape /metrics

    @classmethod
    def load(cls, settings: Settings) -> KeyRing:
        return cls(
            access_tokens=ed25519_key(settings.jwt_key_path),
            secrets=SecretBox(fernet_key(settings.secrets_key_path)),
            link_tokens=random_key(settings.data_path / "link-tokens.key"),
            log=ed25519_key(settings.log_key_path),
            ca=p256_key(settings.ca_path / "ca.key"),
            metrics_token=bearer_token(settings.metrics_token_path),
        )
