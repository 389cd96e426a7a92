"""Where the desktop keeps who you are: the remembered server and e-mail, and the refresh token.

The profile (server, e-mail, workspace) is not secret and sits in a JSON file in the user's
config directory. The refresh token is a secret: it goes to the system keyring (Secret Service,
macOS Keychain, Windows Credential Locker) and, only where no keyring exists, to a file only the
user can read (mode 0600), as `gh` and `gcloud` do.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Protocol

import msgspec

from justmaily.shared.roles import Role

KEYRING_SERVICE = "justmaily"


class Profile(msgspec.Struct, kw_only=True):
    """Who signs in where; known offline, so the app can start without the server."""

    server: str
    email: str
    workspace: str | None = None
    role: Role | None = None
    user_id: str = ""
    display_name: str = ""
    workspaces: list[str] = msgspec.field(default_factory=list)


class SecretStore(Protocol):
    name: str

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, secret: str) -> None: ...
    def delete(self, key: str) -> None: ...


class KeyringSecrets:
    name = "system keyring"

    def __init__(self) -> None:
        import keyring

        self._keyring = keyring

    def get(self, key: str) -> str | None:
        secret: str | None = self._keyring.get_password(KEYRING_SERVICE, key)
        return secret

    def set(self, key: str, secret: str) -> None:
        self._keyring.set_password(KEYRING_SERVICE, key, secret)

    def delete(self, key: str) -> None:
        with contextlib.suppress(self._keyring.errors.PasswordDeleteError):
            self._keyring.delete_password(KEYRING_SERVICE, key)


class FileSecrets:
    """A JSON map in a 0600 file: written to a temporary file first, so a crash leaves the old one."""

    name = "private file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, str]:
        try:
            return msgspec.json.decode(self.path.read_bytes(), type=dict[str, str])
        except (FileNotFoundError, msgspec.DecodeError):
            return {}

    def _write(self, secrets: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        # The mode above applies only to a new file: one left over by a crash keeps its own.
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(msgspec.json.encode(secrets))
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(self.path)

    def get(self, key: str) -> str | None:
        return self._read().get(key)

    def set(self, key: str, secret: str) -> None:
        self._write({**self._read(), key: secret})

    def delete(self, key: str) -> None:
        secrets = self._read()
        if secrets.pop(key, None) is not None:
            self._write(secrets)


def system_secrets(fallback: Path) -> SecretStore:
    """The system keyring when it has a usable backend, else the private file."""
    try:
        import keyring
        from keyring.backends import fail, null
    except ImportError:
        return FileSecrets(fallback)
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring | null.Keyring) or getattr(backend, "priority", 0) < 1:
        return FileSecrets(fallback)
    return KeyringSecrets()


class Credentials:
    """The remembered profile and its refresh token."""

    def __init__(self, config_dir: Path, secrets: SecretStore | None = None) -> None:
        self.profile_path = config_dir / "profile.json"
        self.secrets = secrets if secrets is not None else system_secrets(config_dir / "tokens.json")

    @staticmethod
    def key(profile: Profile) -> str:
        return f"{profile.email}@{profile.server}"

    def profile(self) -> Profile | None:
        try:
            return msgspec.json.decode(self.profile_path.read_bytes(), type=Profile)
        except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
            return None

    def remember(self, profile: Profile, refresh_token: str | None) -> None:
        self.profile_path.parent.mkdir(parents=True, exist_ok=True)
        self.profile_path.write_bytes(msgspec.json.encode(profile))
        if refresh_token is not None:
            self.secrets.set(self.key(profile), refresh_token)

    def refresh_token(self, profile: Profile) -> str | None:
        return self.secrets.get(self.key(profile))

    def forget_token(self, profile: Profile) -> None:
        """Sign out: the profile stays (to prefill the sign-in form), the secret goes."""
        self.secrets.delete(self.key(profile))
