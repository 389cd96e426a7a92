"""Key providers wrap and unwrap data keys with a KEK that never leaves them: local key files and
a real PKCS#11 token (SoftHSM2)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pkcs11
import pytest
from pkcs11.types import Key

from justmaily.server.protection.providers import (
    KeyProvider,
    KeyProviderError,
    LocalKeyProvider,
    Pkcs11KeyProvider,
    UnwrapError,
    Wrapped,
    provider_from,
)
from justmaily.server.settings import Settings
from tests.server.protection.conftest import SoftHsm


@pytest.fixture(params=["local", "pkcs11"])
def provider(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyProvider]:
    if request.param == "local":
        yield LocalKeyProvider(tmp_path / "keks")
        return
    hsm: SoftHsm = request.getfixturevalue("softhsm")
    token = Pkcs11KeyProvider(hsm.library, hsm.token_label, hsm.pin, hsm.key_label())
    try:
        yield token
    finally:
        token.close()


def flipped(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 0x01]) + blob[at + 1 :]


def test_a_wrapped_key_unwraps_only_unchanged_and_in_its_own_context(provider: KeyProvider) -> None:
    key = os.urandom(32)
    wrapped = provider.wrap(key, b"workspace-a/data/1")
    assert wrapped.kek_version == 1
    assert key not in wrapped.blob
    assert provider.unwrap(wrapped, b"workspace-a/data/1") == key
    with pytest.raises(UnwrapError, match="does not unwrap"):
        provider.unwrap(wrapped, b"workspace-b/data/1")  # moved to another workspace
    for at in (0, 20, len(wrapped.blob) - 1):  # nonce, ciphertext, tag
        with pytest.raises(UnwrapError):
            provider.unwrap(Wrapped(1, flipped(wrapped.blob, at)), b"workspace-a/data/1")
    with pytest.raises(UnwrapError, match="truncated"):
        provider.unwrap(Wrapped(1, wrapped.blob[:20]), b"workspace-a/data/1")


def test_a_new_kek_wraps_from_now_on_and_the_old_one_still_unwraps(provider: KeyProvider) -> None:
    old = provider.wrap(b"k" * 32, b"ctx")
    assert provider.new_version() == 2
    assert provider.current_version() == 2
    new = provider.wrap(b"k" * 32, b"ctx")
    assert (old.kek_version, new.kek_version) == (1, 2)
    assert provider.unwrap(old, b"ctx") == provider.unwrap(new, b"ctx") == b"k" * 32
    with pytest.raises(UnwrapError):
        provider.unwrap(Wrapped(2, old.blob), b"ctx")  # claims the wrong KEK version
    with pytest.raises(KeyProviderError, match="version 9"):
        provider.unwrap(Wrapped(9, old.blob), b"ctx")


def test_the_local_kek_is_a_0600_file_made_once(tmp_path: Path) -> None:
    folder = tmp_path / "keks"
    first = LocalKeyProvider(folder)
    wrapped = first.wrap(b"x" * 32, b"ctx")
    kek_file = folder / "kek-1.key"
    assert stat.S_IMODE(kek_file.stat().st_mode) == 0o600
    assert len(kek_file.read_bytes()) == 32
    # Another process (a replica, a restart) finds the same KEK.
    assert LocalKeyProvider(folder).unwrap(wrapped, b"ctx") == b"x" * 32


def test_the_pkcs11_kek_stays_in_the_token(softhsm: SoftHsm) -> None:
    label = softhsm.key_label()
    provider = Pkcs11KeyProvider(softhsm.library, softhsm.token_label, softhsm.pin, label)
    try:
        provider.wrap(b"x" * 32, b"ctx")
    finally:
        provider.close()
    token = pkcs11.lib(softhsm.library).get_token(token_label=softhsm.token_label)
    with token.open(user_pin=softhsm.pin) as session:
        kek = session.get_key(label=f"{label}-1", key_type=pkcs11.KeyType.AES)
        assert isinstance(kek, Key)
        assert kek[pkcs11.Attribute.EXTRACTABLE] is False
        assert kek[pkcs11.Attribute.SENSITIVE] is True
        with pytest.raises(pkcs11.AttributeSensitive):
            kek[pkcs11.Attribute.VALUE]


def test_settings_choose_the_provider_and_a_bad_token_is_a_clear_error(
    tmp_path: Path, softhsm: SoftHsm
) -> None:
    local = provider_from(Settings.of(data_dir=str(tmp_path)))
    assert isinstance(local, LocalKeyProvider)
    assert local.name == f"local:{tmp_path / 'keks'}"
    configured = Settings.of(
        data_dir=str(tmp_path),
        key_provider="pkcs11",
        pkcs11_library=softhsm.library,
        pkcs11_token_label=softhsm.token_label,
        pkcs11_pin_file=str(softhsm.pin_file),
        pkcs11_key_label=softhsm.key_label(),
    )
    token = provider_from(configured)
    assert isinstance(token, Pkcs11KeyProvider)
    token.close()
    (tmp_path / "wrong-pin").write_text("0000")
    with pytest.raises(KeyProviderError, match="cannot be opened: PinIncorrect"):
        provider_from(configured.replaced(pkcs11_pin_file=str(tmp_path / "wrong-pin")))
    with pytest.raises(KeyProviderError, match="cannot be read"):
        provider_from(configured.replaced(pkcs11_pin_file=str(tmp_path / "missing")))
    with pytest.raises(ValueError, match="pkcs11_library: required"):
        Settings.of(key_provider="pkcs11")
