"""Secrets kept in the database (relay passwords, DKIM private keys), sealed with a local key.

The key lives in the data folder (`secrets.key`, mode 0600) or where `JUSTMAILY_SECRETS_KEY_FILE`
points, never in the database: a copy of the database alone does not reveal them. Fernet
(AES-128-CBC + HMAC-SHA256, from `cryptography`) authenticates what it decrypts.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class SealedSecretError(ValueError):
    """A sealed value cannot be opened: the secrets key changed or the value was altered."""


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, secret: bytes) -> bytes:
        return self._fernet.encrypt(secret)

    def open(self, sealed: bytes) -> bytes:
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken:
            raise SealedSecretError(
                "a stored secret cannot be opened: was secrets.key replaced? Re-enter the relay password "
                "or re-create the sending domain"
            ) from None
