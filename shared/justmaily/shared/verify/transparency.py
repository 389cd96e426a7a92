"""Offline verification of the trust log: RFC 9162 Merkle proofs and C2SP checkpoints.

The trust log is an append-only Merkle tree in the shape of RFC 9162 (Certificate Transparency v2):
the server appends entries and publishes signed tree heads as C2SP checkpoints
(https://c2sp.org/tlog-checkpoint, signed with Ed25519 in the https://c2sp.org/signed-note format).

This module is the piece that auditors and the desktop run offline. With nothing but the log's
verifier key they can check that

* a checkpoint was signed by the log (``open_checkpoint``),
* an entry is in the tree that checkpoint describes (``verify_inclusion``), and
* a newer checkpoint extends an older one without rewriting history (``verify_consistency``).

It needs only the standard library, ``cryptography`` (for Ed25519) and msgspec (for its two structs),
does no I/O and imports nothing else of ours. The verifiers never raise on bad input, however
malformed: they return a ``Verdict`` whose ``reason`` says what is wrong. A ``Verdict`` is truthy
only when ``ok`` is, so ``if verdict:`` is safe.

A proof ties a hash to a root, not to a tree size: the same hashes can verify for two sizes whose
trees have the same shape along the proven path (a proof for leaf 0 of 3 leaves also verifies as
leaf 0 of 4 against the same root). Always take ``tree_size`` and ``root`` from one checkpoint that
``open_checkpoint`` accepted.

``root_hash``, ``inclusion_proof`` and ``consistency_proof`` are simple recursive reference
implementations of RFC 9162 §2.1, for tests and small trees.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "Checkpoint",
    "Verdict",
    "consistency_proof",
    "format_checkpoint",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "root_hash",
    "sign_checkpoint",
    "sign_note",
    "verifier_key",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
MAX_TREE_SIZE = 2**64 - 1  # RFC 9162 sizes and indices are uint64
_MAX_PROOF_HASHES = 128  # proofs in trees of up to 2**64 leaves have at most 65 hashes

_ED25519 = b"\x01"  # signed-note signature type
_EM_DASH = "\u2014"
_MAX_NOTE_CHARS = 1 << 20
_MAX_SIGNATURES = 100  # signed-note: verifiers must accept at least 16
_SIZE_LINE = re.compile(r"0|[1-9][0-9]*")
_KEY_HASH = re.compile(r"[0-9a-fA-F]{8}")


class Verdict(msgspec.Struct, frozen=True):
    """The outcome of a verification: ``ok`` and, either way, the reason."""

    ok: bool
    reason: str

    def __bool__(self) -> bool:
        return self.ok


_VALID = Verdict(ok=True, reason="valid")


class Checkpoint(msgspec.Struct, frozen=True):
    """A tree head: the log's origin line, its size in leaves and the RFC 9162 root hash."""

    origin: str
    size: int
    root: bytes


class _RejectedError(Exception):
    """Raised inside a verifier, turned into ``Verdict(ok=False)`` at its boundary."""


# --- Hashing and the reference tree (RFC 9162 §2.1) ----------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """The hash of a leaf: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_root(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    if hi - lo == 1:
        return hashes[lo]
    k = _split(hi - lo)
    return node_hash(_subtree_root(hashes, lo, lo + k), _subtree_root(hashes, lo + k, hi))


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of the leaf data; the empty tree's root is SHA-256 of the empty string."""
    if not leaves:
        return EMPTY_ROOT
    hashes = [leaf_hash(data) for data in leaves]
    return _subtree_root(hashes, 0, len(hashes))


def _path(hashes: Sequence[bytes], m: int, lo: int, hi: int) -> list[bytes]:
    n = hi - lo
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(hashes, m, lo, lo + k), _subtree_root(hashes, lo + k, hi)]
    return [*_path(hashes, m - k, lo + k, hi), _subtree_root(hashes, lo, lo + k)]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) of RFC 9162 §2.1.3.1: the audit path of leaf ``index``."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"index {index} is outside a tree of size {len(leaves)}")
    hashes = [leaf_hash(data) for data in leaves]
    return _path(hashes, index, 0, len(hashes))


def _subproof(hashes: Sequence[bytes], m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if complete else [_subtree_root(hashes, lo, hi)]
    k = _split(n)
    if m <= k:
        return [*_subproof(hashes, m, lo, lo + k, complete), _subtree_root(hashes, lo + k, hi)]
    return [*_subproof(hashes, m - k, lo + k, hi, False), _subtree_root(hashes, lo, lo + k)]


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(old_size, D[n]) of RFC 9162 §2.1.4.1; empty when ``old_size`` is the whole tree."""
    size = len(leaves)
    if old_size == size:
        return []
    if not 0 < old_size < size:
        raise ValueError(f"no consistency proof from size {old_size} to size {size}")
    hashes = [leaf_hash(data) for data in leaves]
    return _subproof(hashes, old_size, 0, size, True)


# --- Proof verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ----------------------------------------------


def _need_size(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _RejectedError(f"{what} must be an integer, not {type(value).__name__}")
    if value < 0:
        raise _RejectedError(f"{what} {value} is negative")
    if value > MAX_TREE_SIZE:
        raise _RejectedError(f"{what} {value} does not fit in 64 bits")
    return value


def _need_hash(what: str, value: object) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise _RejectedError(f"{what} must be bytes, not {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise _RejectedError(f"{what} is {len(value)} bytes, a SHA-256 hash is {HASH_SIZE}")
    return bytes(value)


def _need_proof(proof: object) -> list[bytes]:
    if isinstance(proof, str | bytes | bytearray) or not isinstance(proof, Sequence):
        raise _RejectedError(f"proof must be a sequence of hashes, not {type(proof).__name__}")
    if len(proof) > _MAX_PROOF_HASHES:
        raise _RejectedError(f"proof has {_hashes(len(proof))}, no proof needs more than {_MAX_PROOF_HASHES}")
    return [_need_hash(f"proof hash {i}", item) for i, item in enumerate(proof)]


def _shift_to_odd(fn: int, sn: int) -> tuple[int, int]:
    """Right-shift both until LSB(fn) is set or fn is 0."""
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def _steps(fn: int, sn: int) -> int:
    """How many proof hashes the RFC 9162 loop consumes from ``(fn, sn)`` before ``sn`` is 0."""
    steps = 0
    while sn:
        steps += 1
        if fn & 1 or fn == sn:
            fn, sn = _shift_to_odd(fn, sn)
        fn, sn = fn >> 1, sn >> 1
    return steps


def _hashes(count: int) -> str:
    return "1 hash" if count == 1 else f"{count} hashes"


def _mismatch(what: str, computed: bytes, expected: bytes) -> _RejectedError:
    return _RejectedError(f"{what} mismatch: computed {computed.hex()}, expected {expected.hex()}")


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> Verdict:
    """Whether ``proof`` shows the leaf with hash ``leaf_hash`` at ``index`` in the tree ``root``."""
    try:
        size = _need_size("tree size", tree_size)
        at = _need_size("index", index)
        if at >= size:
            raise _RejectedError(f"index {at} is outside a tree of size {size}")
        r = _need_hash("leaf hash", leaf_hash)
        expected = _need_hash("root", root)
        path = _need_proof(proof)
        needed = _steps(at, size - 1)
        if len(path) != needed:
            raise _RejectedError(
                f"proof has {_hashes(len(path))}, a tree of size {size} at index {at} needs {needed}"
            )
        fn, sn = at, size - 1
        for p in path:
            if sn == 0:
                raise _RejectedError("proof is longer than the path to the root")
            if fn & 1 or fn == sn:
                r = node_hash(p, r)
                fn, sn = _shift_to_odd(fn, sn)
            else:
                r = node_hash(r, p)
            fn, sn = fn >> 1, sn >> 1
        if sn != 0:
            raise _RejectedError("proof is shorter than the path to the root")
        if r != expected:
            raise _mismatch("root", r, expected)
    except _RejectedError as rejected:
        return Verdict(ok=False, reason=str(rejected))
    return _VALID


def _same_size(size: int, first_hash: bytes, second_hash: bytes, path: list[bytes]) -> None:
    if path:
        raise _RejectedError(f"proof has {_hashes(len(path))}, trees of the same size need none")
    if size == 0 and first_hash != EMPTY_ROOT:
        raise _mismatch("empty tree root", first_hash, EMPTY_ROOT)
    if first_hash != second_hash:
        raise _RejectedError(
            f"roots differ at the same size {size}: {first_hash.hex()} and {second_hash.hex()}"
        )


def _consistency_roots(first: int, second: int, first_hash: bytes, path: list[bytes]) -> tuple[bytes, bytes]:
    """Steps 1 to 6 of RFC 9162 §2.1.4.2 for 0 < first < second: the roots the proof leads to."""
    power_of_two = first & (first - 1) == 0
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    needed = _steps(fn, sn) + (0 if power_of_two else 1)
    if len(path) != needed:
        raise _RejectedError(f"proof has {_hashes(len(path))}, sizes {first} to {second} need {needed}")
    if power_of_two:
        path = [first_hash, *path]
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise _RejectedError("proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            fn, sn = _shift_to_odd(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise _RejectedError("proof is shorter than the path to the root")
    return fr, sr


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> Verdict:
    """Whether ``proof`` shows that the tree ``new_root`` extends the tree ``old_root``.

    Equal sizes need an empty proof and equal roots (for size 0, both the empty tree's root). A
    proof from the empty tree to a larger one proves nothing (RFC 9162 defines them for
    0 < old size < new size) and is rejected: check the newer checkpoint on its own instead.
    """
    try:
        first = _need_size("old size", old_size)
        second = _need_size("new size", new_size)
        if first > second:
            raise _RejectedError(f"sizes out of order: old size {first} is larger than new size {second}")
        path = _need_proof(proof)
        if first == second:
            # RFC 9162 §2.1.4.2: equal sizes, an empty proof and the same root bytes (the
            # transparency-dev vectors accept this whatever the roots' length).
            _same_size(first, bytes(old_root), bytes(new_root), path)
            return _VALID
        first_hash = _need_hash("old root", old_root)
        second_hash = _need_hash("new root", new_root)
        if first == 0:
            raise _RejectedError(
                "a consistency proof from the empty tree proves nothing: check the new tree head alone"
            )
        fr, sr = _consistency_roots(first, second, first_hash, path)
        if fr != first_hash:
            raise _mismatch("old root", fr, first_hash)
        if sr != second_hash:
            raise _mismatch("new root", sr, second_hash)
    except _RejectedError as rejected:
        return Verdict(ok=False, reason=str(rejected))
    return _VALID


# --- Checkpoints as signed notes (c2sp.org/tlog-checkpoint, c2sp.org/signed-note) ----------------------


def _control_character(text: str) -> str | None:
    for offset, char in enumerate(text):
        if char < " " and char != "\n":
            return f"control character U+{ord(char):04X} at offset {offset}"
    return None


def _name_problem(name: object) -> str | None:
    if not isinstance(name, str):
        return f"key name must be a string, not {type(name).__name__}"
    if not name:
        return "key name is empty"
    if any(char.isspace() or char == "+" or char < " " for char in name):
        return f"key name {name!r} contains a space, a plus sign or a control character"
    return None


def _key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + public_key).digest()[:4]


def _b64decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        return None


def format_checkpoint(cp: Checkpoint) -> str:
    """The checkpoint's note text: origin, decimal size and base64 root, each line ending in a newline."""
    if not cp.origin or _control_character(cp.origin) or "\n" in cp.origin:
        raise ValueError(f"cannot format checkpoint: origin {cp.origin!r} must be one non-empty line")
    if isinstance(cp.size, bool) or not 0 <= cp.size <= MAX_TREE_SIZE:
        raise ValueError(
            f"cannot format checkpoint: tree size {cp.size!r} is not an integer from 0 to 2**64-1"
        )
    if len(cp.root) != HASH_SIZE:
        raise ValueError(
            f"cannot format checkpoint: root is {len(cp.root)} bytes, a SHA-256 hash is {HASH_SIZE}"
        )
    return f"{cp.origin}\n{cp.size}\n{base64.b64encode(cp.root).decode()}\n"


def sign_note(text: str, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """A signed note: ``text``, a blank line and one Ed25519 signature line by ``key_name``."""
    problem = _name_problem(key_name)
    if problem is None and (not text.endswith("\n") or _control_character(text)):
        problem = "the text must end with a newline and contain no other control characters"
    if problem is not None:
        raise ValueError(f"cannot sign note: {problem}")
    public = private_key.public_key().public_bytes_raw()
    signature = private_key.sign(text.encode())
    encoded = base64.b64encode(_key_id(key_name, public) + signature).decode()
    return f"{text}\n{_EM_DASH} {key_name} {encoded}\n"


def sign_checkpoint(cp: Checkpoint, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """The checkpoint as a note signed by ``key_name`` (which should be the origin)."""
    return sign_note(format_checkpoint(cp), key_name, private_key)


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The note verifier key ``<name>+<hex key hash>+<base64(0x01 || public key)>``."""
    problem = _name_problem(name)
    if problem is not None:
        raise ValueError(f"cannot make a verifier key: {problem}")
    public = public_key.public_bytes_raw()
    return f"{name}+{_key_id(name, public).hex()}+{base64.b64encode(_ED25519 + public).decode()}"


@dataclass(frozen=True)
class _Verifier:
    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @property
    def label(self) -> str:
        return f"{self.name}+{self.key_id.hex()}"


def _parse_verifier_key(vkey: object) -> _Verifier:
    if not isinstance(vkey, str):
        raise _RejectedError(f"malformed verifier key: must be a string, not {type(vkey).__name__}")
    parts = vkey.split("+", 2)  # the base64 may contain '+', the name and the hash never do
    if len(parts) != 3:
        raise _RejectedError("malformed verifier key: expected <name>+<key hash>+<base64 key>")
    name, key_hash, encoded = parts
    problem = _name_problem(name)
    if problem is not None:
        raise _RejectedError(f"malformed verifier key: {problem}")
    if not _KEY_HASH.fullmatch(key_hash):
        raise _RejectedError(f"malformed verifier key: key hash {key_hash!r} is not 8 hex digits")
    raw = _b64decode(encoded)
    if raw is None:
        raise _RejectedError("malformed verifier key: the key is not base64")
    if len(raw) != 1 + 32 or raw[:1] != _ED25519:
        raise _RejectedError("malformed verifier key: the key is not 0x01 followed by a 32-byte Ed25519 key")
    key_id = _key_id(name, raw[1:])
    if key_id.hex() != key_hash.lower():
        raise _RejectedError(
            f"malformed verifier key: key hash {key_hash} does not match the name and key ({key_id.hex()})"
        )
    try:
        public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    except ValueError as error:
        raise _RejectedError(f"malformed verifier key: {error}") from None
    return _Verifier(name=name, key_id=key_id, public_key=public_key)


def _parse_note(note: object) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """The note's text and its signatures as (key name, key ID, signature)."""
    if not isinstance(note, str):
        raise _RejectedError(f"malformed note: must be a string, not {type(note).__name__}")
    if len(note) > _MAX_NOTE_CHARS:
        raise _RejectedError(f"malformed note: longer than {_MAX_NOTE_CHARS} characters")
    try:
        note.encode()
    except UnicodeEncodeError:
        raise _RejectedError("malformed note: not valid UTF-8") from None
    problem = _control_character(note)
    if problem is not None:
        raise _RejectedError(f"malformed note: {problem}")
    if not note.endswith("\n"):
        raise _RejectedError("malformed note: it does not end with a newline (truncated?)")
    split = note.rfind("\n\n")
    if split < 0:
        raise _RejectedError("malformed note: no blank line separates the text from the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise _RejectedError("malformed note: no signature lines (truncated?)")
    lines = block[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise _RejectedError(f"malformed note: more than {_MAX_SIGNATURES} signatures")
    signatures = []
    for number, line in enumerate(lines, start=1):
        prefix = f"{_EM_DASH} "
        fields = line[len(prefix) :].split(" ") if line.startswith(prefix) else []
        if len(fields) != 2:
            raise _RejectedError(
                f"malformed note: signature line {number} is not '{prefix}<key name> <base64>'"
            )
        name, encoded = fields
        problem = _name_problem(name)
        raw = _b64decode(encoded)
        if problem is not None or raw is None or len(raw) < 5:
            why = problem or "the signature is not base64 of a key hash and a signature"
            raise _RejectedError(f"malformed note: signature line {number}: {why}")
        signatures.append((name, raw[:4], raw[4:]))
    return text, signatures


def _parse_checkpoint_text(text: str) -> Checkpoint:
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise _RejectedError(f"malformed checkpoint: {len(lines)} line(s), it needs origin, size and root")
    for number, line in enumerate(lines, start=1):
        if not line:
            raise _RejectedError(f"malformed checkpoint: line {number} is empty")
    origin, size_line, root_line, *extensions = lines
    if extensions:
        raise _RejectedError(
            f"malformed checkpoint: {len(extensions)} extension line(s); this verifier accepts none"
        )
    if not _SIZE_LINE.fullmatch(size_line):
        detail = "has leading zeros" if size_line.isascii() and size_line.isdigit() else "is not a number"
        raise _RejectedError(f"malformed checkpoint: tree size {size_line[:40]!r} {detail}")
    if len(size_line) > len(str(MAX_TREE_SIZE)) or int(size_line) > MAX_TREE_SIZE:
        raise _RejectedError(f"malformed checkpoint: tree size {size_line[:40]} does not fit in 64 bits")
    root = _b64decode(root_line)
    if root is None or len(root) != HASH_SIZE:
        raise _RejectedError(f"malformed checkpoint: root {root_line[:60]!r} is not base64 of a 32-byte hash")
    return Checkpoint(origin=origin, size=int(size_line), root=root)


def open_checkpoint(note: str, verifier_key: str) -> tuple[Checkpoint | None, Verdict]:
    """Parse a signed checkpoint and check its signature by ``verifier_key``.

    Returns the checkpoint and a valid verdict, or ``None`` and the reason it was rejected: a
    malformed verifier key or note, no signature by the verifier key ("unknown key"), a signature by
    it that does not verify ("bad signature"), or a signed text that is not a checkpoint. Signatures
    by other keys are ignored, as signed-note requires.
    """
    try:
        verifier = _parse_verifier_key(verifier_key)
        text, signatures = _parse_note(note)
        verified = False
        for name, key_id, signature in signatures:
            if name != verifier.name or key_id != verifier.key_id:
                continue
            try:
                verifier.public_key.verify(signature, text.encode())
            except InvalidSignature:
                raise _RejectedError(
                    f"bad signature: the signature by {verifier.label} does not verify"
                ) from None
            verified = True
        if not verified:
            found = ", ".join(f"{name}+{key_id.hex()}" for name, key_id, _ in signatures)
            raise _RejectedError(f"unknown key: no signature by {verifier.label}, only by {found}")
        checkpoint = _parse_checkpoint_text(text)
    except _RejectedError as rejected:
        return None, Verdict(ok=False, reason=str(rejected))
    return checkpoint, _VALID
