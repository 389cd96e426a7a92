"""Where the desktop keeps the remembered sign-in: a profile file, and the refresh token as a secret."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import keyring
import keyring.core
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import PasswordDeleteError

from justmaily.desktop.engine.credentials import (
    KEYRING_SERVICE,
    Credentials,
    FileSecrets,
    KeyringSecrets,
    Profile,
    system_secrets,
)
from justmaily.shared.roles import Role

TOKEN = "eyJhbGciOiJFZERTQSJ9.refresh.secret-part"


class MemoryKeyring(KeyringBackend):
    """A usable keyring backend that keeps passwords in a dict."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[service, username] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.passwords.pop((service, username), None) is None:
            raise PasswordDeleteError("no such password")


# keyring registers every backend class it sees; unregister this one, so that no other test's
# backend detection picks it up.
KeyringBackend._classes.discard(MemoryKeyring)


@pytest.fixture
def use_keyring(monkeypatch: pytest.MonkeyPatch) -> Callable[[KeyringBackend], None]:
    """`keyring.set_keyring`, with the process's backend (or none chosen yet) restored afterwards."""
    monkeypatch.setattr(keyring.core, "_keyring_backend", keyring.core._keyring_backend)
    return keyring.set_keyring


def profile(*, server: str = "http://127.0.0.1:8000", email: str = "ada@acme.example.com") -> Profile:
    return Profile(
        server=server, email=email, workspace="acme", role=Role.EDITOR, user_id="u-1", display_name="Ada"
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# FileSecrets -------------------------------------------------------------------------------------


def test_the_secrets_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    secrets = FileSecrets(tmp_path / "config" / "tokens.json")
    secrets.set("ada", TOKEN)
    assert mode(secrets.path) == 0o600
    secrets.set("grace", "another")  # rewritten through a temporary file: still private
    assert mode(secrets.path) == 0o600
    assert [p.name for p in secrets.path.parent.iterdir()] == ["tokens.json"]


def test_a_leftover_temporary_file_does_not_make_the_secrets_readable(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    leftover = path.with_suffix(".tmp")
    leftover.write_text("{}")
    leftover.chmod(0o644)
    FileSecrets(path).set("ada", TOKEN)
    assert mode(path) == 0o600


def test_file_secrets_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    secrets = FileSecrets(path)
    assert secrets.get("ada") is None
    secrets.set("ada", TOKEN)
    secrets.set("grace", "hopper")
    # A new instance (the app started again) reads what the last one wrote.
    again = FileSecrets(path)
    assert (again.get("ada"), again.get("grace")) == (TOKEN, "hopper")
    again.set("ada", "rotated")
    again.delete("grace")
    again.delete("nobody")  # deleting what is not there is fine
    assert (FileSecrets(path).get("ada"), FileSecrets(path).get("grace")) == ("rotated", None)


@pytest.mark.parametrize(
    "content", [b"", b"{not json", b"\xff\xfe\x00garbage", b'["a list"]', b'{"ada": 42}', b"null"]
)
def test_a_corrupt_secrets_file_reads_as_empty_and_is_replaced(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(content)
    secrets = FileSecrets(path)
    assert secrets.get("ada") is None
    secrets.delete("ada")
    secrets.set("ada", TOKEN)
    assert FileSecrets(path).get("ada") == TOKEN


# Credentials -------------------------------------------------------------------------------------


def test_credentials_remember_the_profile_and_keep_the_token_out_of_it(tmp_path: Path) -> None:
    secrets = FileSecrets(tmp_path / "secrets" / "tokens.json")
    credentials = Credentials(tmp_path / "config", secrets)
    ada = profile()
    assert credentials.profile() is None
    assert credentials.refresh_token(ada) is None

    credentials.remember(ada, TOKEN)
    assert credentials.profile() == ada
    assert credentials.refresh_token(ada) == TOKEN
    assert TOKEN.encode() not in credentials.profile_path.read_bytes()
    assert "secret-part" not in credentials.profile_path.read_text()

    # Remembering without a token (e.g. a new display name) keeps the token.
    renamed = profile()
    renamed.display_name = "Ada L."
    credentials.remember(renamed, None)
    assert credentials.profile() == renamed
    assert credentials.refresh_token(renamed) == TOKEN

    # Signing out forgets the token but keeps the profile, to prefill the sign-in form.
    credentials.forget_token(renamed)
    assert credentials.refresh_token(renamed) is None
    assert credentials.profile() == renamed
    # A fresh Credentials (the next start of the app) agrees.
    assert Credentials(tmp_path / "config", secrets).refresh_token(renamed) is None


def test_tokens_are_kept_per_account_and_server(tmp_path: Path) -> None:
    credentials = Credentials(tmp_path, FileSecrets(tmp_path / "tokens.json"))
    ada, grace = profile(), profile(email="grace@acme.example.com")
    elsewhere = profile(server="https://mail.example.com")
    credentials.remember(ada, "ada-token")
    credentials.remember(grace, "grace-token")
    assert credentials.refresh_token(ada) == "ada-token"
    assert credentials.refresh_token(grace) == "grace-token"
    assert credentials.refresh_token(elsewhere) is None
    credentials.forget_token(ada)
    assert (credentials.refresh_token(ada), credentials.refresh_token(grace)) == (None, "grace-token")


def test_a_corrupt_profile_is_no_profile(tmp_path: Path) -> None:
    credentials = Credentials(tmp_path, FileSecrets(tmp_path / "tokens.json"))
    credentials.profile_path.write_text('{"server": 1}')
    assert credentials.profile() is None
    credentials.profile_path.write_text("{")
    assert credentials.profile() is None


# Choosing the store --------------------------------------------------------------------------------


@pytest.mark.parametrize("unusable", [fail.Keyring, null.Keyring])
def test_without_a_usable_keyring_tokens_go_to_the_private_file(
    tmp_path: Path, use_keyring: Callable[[KeyringBackend], None], unusable: type[KeyringBackend]
) -> None:
    use_keyring(unusable())
    fallback = tmp_path / "tokens.json"
    secrets = system_secrets(fallback)
    assert isinstance(secrets, FileSecrets)
    assert secrets.path == fallback

    credentials = Credentials(tmp_path)  # the default store, as the app builds it
    assert isinstance(credentials.secrets, FileSecrets)
    credentials.remember(profile(), TOKEN)
    assert FileSecrets(tmp_path / "tokens.json").get(Credentials.key(profile())) == TOKEN
    assert mode(tmp_path / "tokens.json") == 0o600


def test_with_a_usable_keyring_tokens_go_to_the_keyring(
    tmp_path: Path, use_keyring: Callable[[KeyringBackend], None]
) -> None:
    memory = MemoryKeyring()
    use_keyring(memory)
    assert isinstance(system_secrets(tmp_path / "tokens.json"), KeyringSecrets)

    credentials = Credentials(tmp_path)
    assert isinstance(credentials.secrets, KeyringSecrets)
    ada = profile()
    credentials.remember(ada, TOKEN)
    assert memory.passwords == {(KEYRING_SERVICE, Credentials.key(ada)): TOKEN}
    assert not (tmp_path / "tokens.json").exists()
    assert TOKEN not in credentials.profile_path.read_text()
    assert Credentials(tmp_path).refresh_token(ada) == TOKEN

    credentials.forget_token(ada)
    assert memory.passwords == {}
    credentials.forget_token(ada)  # the keyring says "no such password": already forgotten is fine
    assert credentials.refresh_token(ada) is None
