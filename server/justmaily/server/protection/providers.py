"""Key providers: where the key-encryption key (KEK) lives and the only place it is used.

A provider wraps and unwraps data keys; it never hands its KEK out. Each KEK has a version (1, 2,
…); the highest one wraps new data keys, the older ones still unwrap what they wrapped until a
rotation has re-wrapped everything (docs/data-protection.md).

- `LocalKeyProvider`: the embedded default. Each KEK is a 32-byte file `kek-<version>.key`
  (mode 0600) in a folder of the data folder, made like the other key files (keys/files.py). The
  KEK is in this process's memory: it protects a copy of the database or a backup, not a host
  whose memory an attacker reads.
- `Pkcs11KeyProvider`: the KEK is a non-extractable, sensitive AES-256 key in a PKCS#11 token (an
  HSM, a cloud HSM, SoftHSM2); wrapping is AES-GCM performed inside the token.

Both wrap with AES-256-GCM and bind the wrapped key to what it is for (`context`, the associated
data), so a wrapped key moved to another workspace or purpose does not unwrap.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pkcs11
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pkcs11.mechanisms import GCMParams
from pkcs11.types import DecryptMixin, EncryptMixin, Key

from justmaily.server.keys.files import KeyFileError, random_key
from justmaily.server.settings import Settings

_NONCE_BYTES = 12
_KEK_FILE = re.compile(r"^kek-([1-9][0-9]*)\.key$")


class KeyProviderError(RuntimeError):
    """The provider cannot do what was asked (no such KEK version, the token refused, …)."""


class UnwrapError(KeyProviderError):
    """A wrapped key does not unwrap: altered, wrapped for another context, or under another KEK."""


@dataclass(frozen=True)
class Wrapped:
    kek_version: int
    blob: bytes  # nonce + AES-GCM ciphertext and tag


class KeyProvider(Protocol):
    @property
    def name(self) -> str:
        """What the provider is, for the audit log and `justmaily keys` (never a secret)."""
        ...

    def current_version(self) -> int:
        """The version of the KEK that wraps new keys (made on first use)."""
        ...

    def new_version(self) -> int:
        """Make a new KEK, which becomes the current one; returns its version."""
        ...

    def wrap(self, key: bytes, context: bytes) -> Wrapped:
        """`key` wrapped under the current KEK, bound to `context`."""
        ...

    def unwrap(self, wrapped: Wrapped, context: bytes) -> bytes:
        """The key `wrap` was given, or UnwrapError."""
        ...


def _check_wrapped(wrapped: Wrapped) -> tuple[bytes, bytes]:
    if len(wrapped.blob) <= _NONCE_BYTES + 16:
        raise UnwrapError(f"wrapped key under KEK version {wrapped.kek_version} is truncated")
    return wrapped.blob[:_NONCE_BYTES], wrapped.blob[_NONCE_BYTES:]


class LocalKeyProvider:
    """KEKs as key files in `folder` (the data folder's `keks/` unless set otherwise)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._lock = threading.Lock()
        self._keks: dict[int, AESGCM] = {}

    @property
    def name(self) -> str:
        return f"local:{self._folder}"

    def _versions(self) -> list[int]:
        if not self._folder.is_dir():
            return []
        found = (_KEK_FILE.match(path.name) for path in self._folder.iterdir())
        return sorted(int(match.group(1)) for match in found if match)

    def _kek(self, version: int) -> AESGCM:
        with self._lock:
            if version not in self._keks:
                path = self._folder / f"kek-{version}.key"
                if not path.exists():
                    raise KeyProviderError(f"KEK version {version} is not in {self._folder}")
                key = path.read_bytes()
                if len(key) != 32:
                    raise KeyFileError(f"{path} does not hold a 32-byte key")
                self._keks[version] = AESGCM(key)
            return self._keks[version]

    def current_version(self) -> int:
        versions = self._versions()
        if versions:
            return versions[-1]
        random_key(self._folder / "kek-1.key")  # 0600, and the first process to make it wins
        return 1

    def new_version(self) -> int:
        version = self.current_version() + 1
        random_key(self._folder / f"kek-{version}.key")
        return version

    def wrap(self, key: bytes, context: bytes) -> Wrapped:
        version = self.current_version()
        nonce = os.urandom(_NONCE_BYTES)
        return Wrapped(version, nonce + self._kek(version).encrypt(nonce, key, context))

    def unwrap(self, wrapped: Wrapped, context: bytes) -> bytes:
        nonce, sealed = _check_wrapped(wrapped)
        try:
            return self._kek(wrapped.kek_version).decrypt(nonce, sealed, context)
        except InvalidTag:
            raise UnwrapError(
                f"a data key wrapped under local KEK version {wrapped.kek_version} does not unwrap:"
                " it was altered, belongs to another workspace or purpose, or the KEK file was replaced"
            ) from None


class Pkcs11KeyProvider:
    """KEKs as AES-256 keys labelled `<label>-<version>` in a PKCS#11 token; used only inside it.

    Calls into the token are short (well under a millisecond on SoftHSM2) and rare: the hierarchy
    caches unwrapped data keys in memory. One session serves every call, under a lock, because
    a PKCS#11 session is not safe to share between threads at once.
    """

    def __init__(self, library: str, token_label: str, pin: str, label: str = "justmaily-kek") -> None:

        try:
            token = pkcs11.lib(library).get_token(token_label=token_label)
            self._session = token.open(user_pin=pin, rw=True)
        except (pkcs11.PKCS11Error, RuntimeError) as error:
            raise KeyProviderError(
                f"PKCS#11 token {token_label!r} in {library} cannot be opened: {type(error).__name__}"
            ) from None
        self._token_label = token_label
        self._label = label
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"pkcs11:{self._token_label}/{self._label}"

    def close(self) -> None:
        with self._lock:
            self._session.close()

    def _versions(self) -> list[int]:

        pattern = re.compile(rf"^{re.escape(self._label)}-([1-9][0-9]*)$")
        found = []
        for key in self._session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY}):
            match = pattern.match(key.label) if isinstance(key, Key) else None
            if match:
                found.append(int(match.group(1)))
        return sorted(found)

    def _generate(self, version: int) -> None:

        self._session.generate_key(
            pkcs11.KeyType.AES,
            256,
            label=f"{self._label}-{version}",
            store=True,
            template={
                pkcs11.Attribute.EXTRACTABLE: False,  # the KEK never leaves the token
                pkcs11.Attribute.SENSITIVE: True,
                pkcs11.Attribute.ENCRYPT: True,
                pkcs11.Attribute.DECRYPT: True,
            },
        )

    def current_version(self) -> int:
        with self._lock:
            versions = self._versions()
            if versions:
                return versions[-1]
            self._generate(1)
            return 1

    def new_version(self) -> int:
        with self._lock:
            version = (self._versions() or [0])[-1] + 1
            self._generate(version)
            return version

    def _kek(self, version: int) -> object:

        try:
            return self._session.get_key(label=f"{self._label}-{version}", key_type=pkcs11.KeyType.AES)
        except pkcs11.NoSuchKey:
            raise KeyProviderError(
                f"KEK version {version} ({self._label}-{version}) is not in token {self._token_label!r}"
            ) from None

    def wrap(self, key: bytes, context: bytes) -> Wrapped:

        version = self.current_version()
        nonce = secrets.token_bytes(_NONCE_BYTES)
        with self._lock:
            kek = self._kek(version)
            assert isinstance(kek, EncryptMixin)
            sealed = kek.encrypt(
                key, mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, context)
            )
        assert isinstance(sealed, bytes)  # one buffer in, one out (not the streaming form)
        return Wrapped(version, nonce + sealed)

    def unwrap(self, wrapped: Wrapped, context: bytes) -> bytes:

        nonce, sealed = _check_wrapped(wrapped)
        with self._lock:
            kek = self._kek(wrapped.kek_version)
            assert isinstance(kek, DecryptMixin)
            try:
                opened = kek.decrypt(
                    sealed, mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, context)
                )
            except pkcs11.PKCS11Error:
                # SoftHSM2 answers a failed tag check with a bare CKR_GENERAL_ERROR.
                raise UnwrapError(
                    f"a data key wrapped under {self._label}-{wrapped.kek_version} does not unwrap in"
                    f" token {self._token_label!r}: it was altered or belongs to another workspace or purpose"
                ) from None
        assert isinstance(opened, bytes)
        return opened


def provider_from(settings: Settings) -> KeyProvider:
    """The provider the settings name: local key files unless a PKCS#11 token is configured."""
    chosen = settings.protection
    if chosen.key_provider == "local":
        return LocalKeyProvider(settings.kek_path)
    pin_file = Path(chosen.pkcs11_pin_file)
    try:
        pin = pin_file.read_text().strip()
    except OSError as error:
        raise KeyProviderError(f"pkcs11_pin_file {pin_file} cannot be read: {error.strerror}") from None
    return Pkcs11KeyProvider(chosen.pkcs11_library, chosen.pkcs11_token_label, pin, chosen.pkcs11_key_label)
