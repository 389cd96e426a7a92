"""Secret key files in the data folder: created once, mode 0600, never overwritten; and the keys
the server makes in them."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes


class KeyFileError(ValueError):
    """A key file holds something else than the key it should: the message names the file."""


def read_or_create(path: Path, generate: Callable[[], bytes]) -> bytes:
    """The file's bytes, creating it from `generate()` when it does not exist yet.

    The key is written to a temporary file and linked into place, so another process starting
    at the same moment sees either no file or the whole key, and the first one wins.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(generate())
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process created it first: use theirs
        finally:
            Path(temporary).unlink(missing_ok=True)
    return path.read_bytes()


def ed25519_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key (PEM, PKCS#8), made on first use."""
    key = _private_key(path, lambda: _pem(Ed25519PrivateKey.generate()))
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} does not hold an Ed25519 private key")
    return key


def p256_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """An ECDSA P-256 private key (PEM, PKCS#8), made on first use."""
    key = _private_key(path, lambda: _pem(ec.generate_private_key(ec.SECP256R1())))
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an ECDSA P-256 key")
    return key


def random_key(path: Path, size: int = 32) -> bytes:
    """`size` random bytes (an HMAC key), made on first use."""
    return read_or_create(path, lambda: secrets.token_bytes(size))


def bearer_token(path: Path) -> str:
    """A random token as text (a scraper's credential), made on first use."""
    token = (
        read_or_create(path, lambda: secrets.token_urlsafe(32).encode()).strip().decode("ascii", "replace")
    )
    if len(token) < 32:
        raise KeyFileError(f"{path} holds no token of at least 32 characters")
    return token


def fernet_key(path: Path) -> bytes:
    """A Fernet key (its URL-safe base64 text), made on first use."""
    return read_or_create(path, Fernet.generate_key).strip()


def _private_key(path: Path, generate: Callable[[], bytes]) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(read_or_create(path, generate), password=None)
    except (ValueError, TypeError) as error:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key: {error}") from None


def _pem(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
