"""Secrets kept in the database (relay passwords, DKIM private keys), sealed with a local key.

The key lives in the data folder (`secrets.key`, mode 0600) or where `JUSTMAILY_SECRETS_KEY_FILE`
points, never in the database: a copy of the database alone does not reveal them. Fernet
(AES-128-CBC + HMAC-SHA256, from `cryptography`) authenticates what it decrypts.

Each sealed value is opened once per process and kept (as the relays and signers that use it
keep it anyway); that first opening is reported to `on_read`, which the audit log listens to
(protection/trail.py), so every secret a process reads is on record once, not at every reload.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from cryptography.fernet import Fernet, InvalidToken

# What was opened (e.g. "relay main password") and whose it is.
SecretReadListener = Callable[[str, uuid.UUID | None], None]


class SealedSecretError(ValueError):
    """A sealed value cannot be opened: the secrets key changed or the value was altered."""


class SecretBox:
    def __init__(self, key: bytes, on_read: SecretReadListener | None = None) -> None:
        self._fernet = Fernet(key)
        self.on_read = on_read
        self._lock = threading.Lock()
        self._opened: dict[bytes, bytes] = {}

    def __repr__(self) -> str:
        return "SecretBox(...)"

    def seal(self, secret: bytes) -> bytes:
        return self._fernet.encrypt(secret)

    def open(self, sealed: bytes, *, what: str = "a secret", workspace_id: uuid.UUID | None = None) -> bytes:
        with self._lock:
            opened = self._opened.get(sealed)
        if opened is not None:
            return opened
        try:
            opened = self._fernet.decrypt(sealed)
        except InvalidToken:
            raise SealedSecretError(
                "a stored secret cannot be opened: was secrets.key replaced? Re-enter the relay password "
                "or re-create the sending domain"
            ) from None
        with self._lock:
            self._opened[sealed] = opened
        if self.on_read is not None:
            self.on_read(what, workspace_id)
        return opened
