"""Sums over personal numbers without seeing them: Paillier encryption (`phe`, with `gmpy2`).

Whoever holds the public key encrypts each contact's number (seats, spend in cents); anyone may
add the ciphertexts without the private key, since multiplying Paillier ciphertexts adds their
plaintexts; only the holder of the private key decrypts — and only the sum of a group of at
least `k` contributions (k-anonymity), so a sum cannot be narrowed to one person by asking for
a group of one. Values are integers: fixed point (cents, not euros) keeps every ciphertext at
the same exponent, so sums are plain products modulo n² (~1 µs each with gmpy2) instead of
phe's aligning addition.

The private key is kept sealed under the workspace's data key (`seal_private_key`), bound to
the workspace: it never sits in the database in the clear.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import gmpy2
from phe import paillier

from justmaily.server.protection.fields import open_sealed, row_identity, seal
from justmaily.server.protection.hierarchy import WorkspaceKeys

KEY_BITS = 2048
DEFAULT_K = 10


class GroupTooSmallError(ValueError):
    """A sum of fewer contributions than the k-anonymity threshold was to be decrypted."""


@dataclass(frozen=True)
class EncryptedSum:
    """Paillier ciphertext of a sum, and how many contributions it adds up."""

    ciphertext: int
    count: int


class Aggregates:
    def __init__(
        self,
        public_key: paillier.PaillierPublicKey,
        private_key: paillier.PaillierPrivateKey | None = None,
        k: int = DEFAULT_K,
    ) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self.public_key, self._private_key, self.k = public_key, private_key, k

    def __repr__(self) -> str:
        return f"Aggregates(k={self.k}, can_decrypt={self._private_key is not None})"

    @classmethod
    def generate(cls, k: int = DEFAULT_K, bits: int = KEY_BITS) -> Aggregates:
        public_key, private_key = paillier.generate_paillier_keypair(n_length=bits)
        return cls(public_key, private_key, k)

    def encrypt(self, value: int) -> int:
        """The ciphertext of one contribution (an integer: use cents for money)."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"only integers are summed, not {type(value).__name__}")
        return int(self.public_key.raw_encrypt(value % self.public_key.n))

    def total(self, ciphertexts: Iterable[int]) -> EncryptedSum:
        """The ciphertext of the sum, computed without the private key."""
        modulus = gmpy2.mpz(self.public_key.nsquare)
        product, count = gmpy2.mpz(1), 0
        for ciphertext in ciphertexts:
            product = gmpy2.f_mod(product * ciphertext, modulus)
            count += 1
        return EncryptedSum(int(product), count)

    def decrypt(self, total: EncryptedSum) -> int:
        """The sum, if it adds up at least k contributions; GroupTooSmallError if not."""
        if self._private_key is None:
            raise PermissionError("this holder has the public key only: it adds, it does not decrypt")
        if total.count < self.k:
            raise GroupTooSmallError(
                f"a sum of {total.count} contribution(s) is not decrypted: groups need at least {self.k}"
                " (k-anonymity), so no one's own value can be read from an aggregate"
            )
        plain = int(self._private_key.raw_decrypt(total.ciphertext))
        n = self.public_key.n
        return plain - n if plain > n // 2 else plain  # negative values wrap around n

    def seal_private_key(self, keys: WorkspaceKeys) -> bytes:
        """The key pair sealed under the workspace's data key (to store it)."""
        if self._private_key is None:
            raise PermissionError("no private key to seal")
        data = json.dumps({"p": str(self._private_key.p), "q": str(self._private_key.q), "k": self.k})
        return seal(keys, _identity(keys.workspace_id), data.encode())

    @classmethod
    def open_sealed_key(cls, keys: WorkspaceKeys, sealed: bytes) -> Aggregates:
        data = json.loads(open_sealed(keys, _identity(keys.workspace_id), sealed))
        p, q = int(data["p"]), int(data["q"])
        public_key = paillier.PaillierPublicKey(p * q)
        return cls(public_key, paillier.PaillierPrivateKey(public_key, p, q), int(data["k"]))


def _identity(workspace_id: uuid.UUID) -> bytes:
    return row_identity(workspace_id, "paillier.private_key", workspace_id)
