"""The trust log's offline verifier: RFC 9162 proofs against upstream vectors, and signed checkpoints."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from justmaily.shared.verify.transparency import (
    EMPTY_ROOT,
    Checkpoint,
    Verdict,
    consistency_proof,
    format_checkpoint,
    inclusion_proof,
    leaf_hash,
    node_hash,
    open_checkpoint,
    root_hash,
    sign_checkpoint,
    sign_note,
    verifier_key,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parent.parent / "data" / "merkle"
EM_DASH = "\u2014"

# The one upstream vector this verifier disagrees with on purpose. Its roots are 12-byte placeholders
# ("don't care 2"), and the verifier rejects anything that is not a 32-byte SHA-256 hash. What the
# vector is about (equal sizes, equal roots, empty proof) is accepted with real roots: see
# test_equal_sizes_need_an_empty_proof_and_equal_roots.


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _load(kind: str) -> list[Any]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    return [
        pytest.param(
            path.relative_to(VECTORS).as_posix(),
            json.loads(path.read_text()),
            id=path.relative_to(VECTORS).as_posix(),
        )
        for path in files
    ]


INCLUSION_VECTORS = _load("inclusion")
CONSISTENCY_VECTORS = _load("consistency")


def _expect(case: str, vector: dict[str, Any], verdict: Verdict) -> None:
    assert verdict.reason, "a verdict always says why"
    if vector["wantErr"]:
        assert not verdict.ok, f"{vector['desc']!r} must be rejected"
    else:
        assert verdict == Verdict(ok=True, reason="valid"), f"{vector['desc']!r}: {verdict.reason}"


def test_the_vector_copy_is_complete() -> None:
    """196 upstream cases: 12 that must verify, 184 that must not."""
    counts = {
        kind: sum(1 for param in vectors if not param.values[1]["wantErr"])
        for kind, vectors in (("inclusion", INCLUSION_VECTORS), ("consistency", CONSISTENCY_VECTORS))
    }
    assert (len(INCLUSION_VECTORS), len(CONSISTENCY_VECTORS)) == (98, 98)
    assert counts == {"inclusion": 6, "consistency": 6}
    assert (VECTORS / "README.md").is_file()
    assert (VECTORS / "SOURCE.md").is_file()


@pytest.mark.parametrize(("case", "vector"), INCLUSION_VECTORS)
def test_inclusion_vector(case: str, vector: dict[str, Any]) -> None:
    proof = [_b64(h) for h in vector["proof"] or []]  # Go's nil proof is an empty one
    verdict = verify_inclusion(
        _b64(vector["leafHash"]), vector["leafIdx"], vector["treeSize"], proof, _b64(vector["root"])
    )
    _expect(case, vector, verdict)


@pytest.mark.parametrize(("case", "vector"), CONSISTENCY_VECTORS)
def test_consistency_vector(case: str, vector: dict[str, Any]) -> None:
    proof = [_b64(h) for h in vector["proof"] or []]
    verdict = verify_consistency(
        vector["size1"], vector["size2"], _b64(vector["root1"]), _b64(vector["root2"]), proof
    )
    _expect(case, vector, verdict)


# The leaves behind the upstream vectors (transparency-dev/merkle's testonly package, the RFC 6962
# reference tests): the generators must reproduce every happy path proof byte for byte.
RFC6962_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]


def test_reference_roots_match_rfc6962() -> None:
    assert root_hash([]) == EMPTY_ROOT == hashlib.sha256().digest()
    assert root_hash(RFC6962_LEAVES[:1]) == leaf_hash(b"")
    assert (
        root_hash(RFC6962_LEAVES).hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )
    assert root_hash(RFC6962_LEAVES[:2]) == node_hash(leaf_hash(b""), leaf_hash(b"\x00"))


@pytest.mark.parametrize(
    "vector",
    [
        p.values[1]
        for p in [*INCLUSION_VECTORS, *CONSISTENCY_VECTORS]
        if p.values[0].endswith("/happy-path.json")
    ],
)
def test_generators_reproduce_the_happy_paths(vector: dict[str, Any]) -> None:
    proof = [_b64(h) for h in vector["proof"] or []]
    if "leafIdx" in vector:
        leaves = RFC6962_LEAVES[: vector["treeSize"]]
        assert root_hash(leaves) == _b64(vector["root"])
        assert leaf_hash(leaves[vector["leafIdx"]]) == _b64(vector["leafHash"])
        assert inclusion_proof(leaves, vector["leafIdx"]) == proof
    else:
        leaves = RFC6962_LEAVES[: vector["size2"]]
        assert root_hash(leaves[: vector["size1"]]) == _b64(vector["root1"])
        assert root_hash(leaves) == _b64(vector["root2"])
        assert consistency_proof(leaves, vector["size1"]) == proof


# --- Round trips over every small tree ------------------------------------------------------------------

MAX_SIZE = 40
LEAVES = [f"entry {i}".encode() for i in range(MAX_SIZE)]  # distinct, so no two subtrees share a hash
ROOTS = [root_hash(LEAVES[:n]) for n in range(MAX_SIZE + 1)]


def _flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _path_shape(index: int, size: int) -> list[bool]:
    """For each hash of PATH(index, D[size]), bottom up: is it the right sibling? (RFC 9162 §2.1.3.1)."""
    if size == 1:
        return []
    k = 1 << ((size - 1).bit_length() - 1)
    if index < k:
        return [*_path_shape(index, k), True]
    return [*_path_shape(index - k, size - k), False]


def _subproof_shape(m: int, n: int, complete: bool = True) -> list[str]:
    """Which way each hash of PROOF(m, D[n]) is combined (RFC 9162 §2.1.4.1)."""
    if m == n:
        return [] if complete else ["seed"]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof_shape(m, k, complete), "right"]
    return [*_subproof_shape(m - k, n - k, False), "left"]


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_inclusion_round_trip(size: int) -> None:
    """Every proof verifies; a flipped byte or another index never does; another size only when the
    tree has the same shape along the path (RFC 9162 proofs do not commit to the size)."""
    leaves, root = LEAVES[:size], ROOTS[size]
    for index in range(size):
        proof, hashed = inclusion_proof(leaves, index), leaf_hash(leaves[index])
        assert verify_inclusion(hashed, index, size, proof, root).ok
        for i in range(len(proof)):
            bad = [*proof[:i], _flipped(proof[i], (index + i) % 32), *proof[i + 1 :]]
            assert not verify_inclusion(hashed, index, size, bad, root).ok
        assert not verify_inclusion(_flipped(hashed, index % 32), index, size, proof, root).ok
        assert not verify_inclusion(hashed, index, size, proof, _flipped(root, 31)).ok
        for other in range(size + 1):
            if other != index:
                assert not verify_inclusion(hashed, other, size, proof, root).ok
        for other in range(1, MAX_SIZE + 1):
            if other != size:
                same_shape = index < other and _path_shape(index, other) == _path_shape(index, size)
                assert verify_inclusion(hashed, index, other, proof, root).ok == same_shape


def test_an_inclusion_proof_does_not_commit_to_the_tree_size() -> None:
    """Why tree size and root must come from one checkpoint: leaf 0 of 3 is also leaf 0 of "4"."""
    proof = inclusion_proof(LEAVES[:3], 0)
    assert verify_inclusion(leaf_hash(LEAVES[0]), 0, 4, proof, ROOTS[3]).ok


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_consistency_round_trip(size: int) -> None:
    leaves = LEAVES[:size]
    for old in range(1, size + 1):
        proof = consistency_proof(leaves, old)
        assert len(proof) == len(_subproof_shape(old, size))
        assert verify_consistency(old, size, ROOTS[old], ROOTS[size], proof).ok
        for i in range(len(proof)):
            bad = [*proof[:i], _flipped(proof[i], (old + i) % 32), *proof[i + 1 :]]
            assert not verify_consistency(old, size, ROOTS[old], ROOTS[size], bad).ok
        assert not verify_consistency(old, size, _flipped(ROOTS[old], 0), ROOTS[size], proof).ok
        assert not verify_consistency(old, size, ROOTS[old], _flipped(ROOTS[size], 0), proof).ok
        for other_old in (old - 1, old + 1):
            same_shape = 0 < other_old < size and _subproof_shape(other_old, size) == _subproof_shape(
                old, size
            )
            assert verify_consistency(other_old, size, ROOTS[old], ROOTS[size], proof).ok == same_shape
        for other in range(1, MAX_SIZE + 1):
            if other != size:
                same_shape = old < other and _subproof_shape(old, other) == _subproof_shape(old, size)
                assert verify_consistency(old, other, ROOTS[old], ROOTS[size], proof).ok == same_shape


def test_reference_generators_refuse_impossible_proofs() -> None:
    with pytest.raises(ValueError, match="outside a tree of size 3"):
        inclusion_proof(LEAVES[:3], 3)
    with pytest.raises(ValueError, match="from size 0 to size 3"):
        consistency_proof(LEAVES[:3], 0)
    with pytest.raises(ValueError, match="from size 4 to size 3"):
        consistency_proof(LEAVES[:3], 4)
    assert consistency_proof(LEAVES[:3], 3) == []
    assert consistency_proof([], 0) == []


# --- Verdicts and edge cases -------------------------------------------------------------------------


def test_a_verdict_is_falsy_when_rejected_and_immutable() -> None:
    good = verify_inclusion(leaf_hash(LEAVES[0]), 0, 1, [], ROOTS[1])
    bad = verify_inclusion(leaf_hash(LEAVES[0]), 0, 1, [], ROOTS[2])
    assert good
    assert good.reason == "valid"
    assert not bad
    assert bad.reason == f"root mismatch: computed {ROOTS[1].hex()}, expected {ROOTS[2].hex()}"
    with pytest.raises(AttributeError):
        good.ok = False  # type: ignore[misc]
    assert msgspec.json.decode(msgspec.json.encode(bad), type=Verdict) == bad


def test_inclusion_reasons() -> None:
    proof = inclusion_proof(LEAVES[:8], 5)
    hashed = leaf_hash(LEAVES[5])
    assert verify_inclusion(hashed, 5, 8, proof[:2], ROOTS[8]).reason == (
        "proof has 2 hashes, a tree of size 8 at index 5 needs 3"
    )
    assert verify_inclusion(hashed, 9, 8, proof, ROOTS[8]).reason == "index 9 is outside a tree of size 8"
    assert verify_inclusion(hashed, 5, 8, [*proof[:2], b"x"], ROOTS[8]).reason == (
        "proof hash 2 is 1 bytes, a SHA-256 hash is 32"
    )


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ((b"\0" * 32, -1, 8, [], EMPTY_ROOT), "index -1 is negative"),
        ((b"\0" * 32, 0, -8, [], EMPTY_ROOT), "tree size -8 is negative"),
        ((b"\0" * 32, 0, 2**64, [], EMPTY_ROOT), "tree size 18446744073709551616 does not fit in 64 bits"),
        ((b"\0" * 32, True, 8, [], EMPTY_ROOT), "index must be an integer, not bool"),
        ((b"\0" * 32, 0, "8", [], EMPTY_ROOT), "tree size must be an integer, not str"),
        ((b"\0" * 32, 0, 8.0, [], EMPTY_ROOT), "tree size must be an integer, not float"),
        ((b"\0" * 31, 0, 1, [], EMPTY_ROOT), "leaf hash is 31 bytes, a SHA-256 hash is 32"),
        (("00" * 32, 0, 1, [], EMPTY_ROOT), "leaf hash must be bytes, not str"),
        ((b"\0" * 32, 0, 1, [], None), "root must be bytes, not NoneType"),
        ((b"\0" * 32, 0, 2, None, EMPTY_ROOT), "proof must be a sequence of hashes, not NoneType"),
        ((b"\0" * 32, 0, 2, b"\0" * 32, EMPTY_ROOT), "proof must be a sequence of hashes, not bytes"),
        ((b"\0" * 32, 0, 2, [None], EMPTY_ROOT), "proof hash 0 must be bytes, not NoneType"),
        (
            (b"\0" * 32, 0, 2, [b"\0" * 32] * 200, EMPTY_ROOT),
            "proof has 200 hashes, no proof needs more than 128",
        ),
        (
            (b"\0" * 32, 0, 2, [b"\0" * 32] * 2, EMPTY_ROOT),
            "proof has 2 hashes, a tree of size 2 at index 0 needs 1",
        ),
    ],
)
def test_inclusion_never_raises_on_bad_input(arguments: tuple[Any, ...], reason: str) -> None:
    assert verify_inclusion(*arguments) == Verdict(ok=False, reason=reason)


def test_equal_sizes_need_an_empty_proof_and_equal_roots() -> None:
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, []).ok
    assert verify_consistency(5, 5, ROOTS[5], ROOTS[5], []).ok
    assert verify_consistency(5, 5, ROOTS[5], ROOTS[4], []).reason == (
        f"roots differ at the same size 5: {ROOTS[5].hex()} and {ROOTS[4].hex()}"
    )
    assert verify_consistency(5, 5, ROOTS[5], ROOTS[5], [ROOTS[1]]).reason == (
        "proof has 1 hash, trees of the same size need none"
    )
    assert verify_consistency(0, 0, ROOTS[1], ROOTS[1], []).reason == (
        f"empty tree root mismatch: computed {ROOTS[1].hex()}, expected {EMPTY_ROOT.hex()}"
    )


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ((0, 5, EMPTY_ROOT, ROOTS[5], []), "a consistency proof from the empty tree proves nothing"),
        ((0, 1, EMPTY_ROOT, ROOTS[1], [ROOTS[1]]), "a consistency proof from the empty tree proves nothing"),
        ((6, 5, ROOTS[6], ROOTS[5], []), "sizes out of order: old size 6 is larger than new size 5"),
        ((2, 5, ROOTS[2], ROOTS[5], []), "proof has 0 hashes, sizes 2 to 5 need 2"),
        ((-1, 5, ROOTS[2], ROOTS[5], []), "old size -1 is negative"),
        ((2, None, ROOTS[2], ROOTS[5], []), "new size must be an integer, not NoneType"),
        ((2, 5, ROOTS[2][:16], ROOTS[5], []), "old root is 16 bytes, a SHA-256 hash is 32"),
        ((2, 5, ROOTS[2], bytearray(33), []), "new root is 33 bytes, a SHA-256 hash is 32"),
        ((2, 5, ROOTS[2], ROOTS[5], "proof"), "proof must be a sequence of hashes, not str"),
        ((2, 5, ROOTS[2], ROOTS[5], [ROOTS[1], 7]), "proof hash 1 must be bytes, not int"),
        (
            (3, 5, ROOTS[2], ROOTS[5], consistency_proof(LEAVES[:5], 3)),
            f"old root mismatch: computed {ROOTS[3].hex()}, expected {ROOTS[2].hex()}",
        ),
        (
            (3, 5, ROOTS[3], ROOTS[4], consistency_proof(LEAVES[:5], 3)),
            f"new root mismatch: computed {ROOTS[5].hex()}, expected {ROOTS[4].hex()}",
        ),
    ],
)
def test_consistency_edge_cases(arguments: tuple[Any, ...], reason: str) -> None:
    verdict = verify_consistency(*arguments)
    assert not verdict.ok
    assert verdict.reason.startswith(reason)


# --- Checkpoints -------------------------------------------------------------------------------------

ORIGIN = "trust.justmaily.example/log"


def _key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


LOG_KEY, OTHER_KEY = _key("log"), _key("other")
LOG_VKEY = verifier_key(ORIGIN, LOG_KEY.public_key())
CHECKPOINT = Checkpoint(ORIGIN, 5, ROOTS[5])
NOTE = sign_checkpoint(CHECKPOINT, ORIGIN, LOG_KEY)


def _key_id(name: str, key: Ed25519PrivateKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + key.public_key().public_bytes_raw()).digest()[:4]


def _signature_line(name: str, key_id: bytes, signature: bytes) -> str:
    return f"{EM_DASH} {name} {base64.b64encode(key_id + signature).decode()}\n"


def _open(note: str, vkey: str = LOG_VKEY) -> Verdict:
    checkpoint, verdict = open_checkpoint(note, vkey)
    assert (checkpoint is not None) == verdict.ok
    return verdict


def test_go_sumdb_note_known_answer() -> None:
    """The example of golang.org/x/mod/sumdb/note: same verifier key, same signed note, byte for byte."""
    private = _b64("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")  # from PRIVATE+KEY+PeterNeumann+c74f20a3+…
    key = Ed25519PrivateKey.from_private_bytes(private[1:])
    text = (
        "If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n"
    )
    vkey = verifier_key("PeterNeumann", key.public_key())
    assert vkey == "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    note = sign_note(text, "PeterNeumann", key)
    signature = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
    assert note == f"{text}\n{EM_DASH} PeterNeumann {signature}\n"
    # The signature checks out; the text is simply not a checkpoint.
    assert _open(note, vkey).reason == "malformed checkpoint: 2 line(s), it needs origin, size and root"


def test_checkpoint_body_matches_the_c2sp_example() -> None:
    root = _b64("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert format_checkpoint(Checkpoint("example.com/behind-the-sofa", 20852163, root)) == (
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


@pytest.mark.parametrize(
    "checkpoint", [CHECKPOINT, Checkpoint(ORIGIN, 0, EMPTY_ROOT), Checkpoint("x", 2**64 - 1, ROOTS[1])]
)
def test_checkpoint_round_trip(checkpoint: Checkpoint) -> None:
    note = sign_checkpoint(checkpoint, ORIGIN, LOG_KEY)
    body, separator, signature_line = note.partition(f"\n{EM_DASH} ")
    assert body == format_checkpoint(checkpoint)
    assert separator
    assert signature_line.startswith(f"{ORIGIN} ")
    assert signature_line.endswith("\n")
    raw = _b64(signature_line.removesuffix("\n").split(" ")[1])
    assert len(raw) == 68
    assert raw[:4] == _key_id(ORIGIN, LOG_KEY)
    typed_key = base64.b64encode(b"\x01" + LOG_KEY.public_key().public_bytes_raw()).decode()
    assert verifier_key(ORIGIN, LOG_KEY.public_key()) == f"{ORIGIN}+{raw[:4].hex()}+{typed_key}"
    assert open_checkpoint(note, LOG_VKEY) == (checkpoint, Verdict(ok=True, reason="valid"))


def test_signatures_by_unknown_keys_are_ignored() -> None:
    witness = "witness.example/w1"
    cosigned = NOTE + sign_note(format_checkpoint(CHECKPOINT), witness, OTHER_KEY).partition("\n\n")[2]
    assert _open(cosigned).ok
    assert _open(cosigned, verifier_key(witness, OTHER_KEY.public_key())).ok


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("\n5\n", "\n6\n"),
        (base64.b64encode(ROOTS[5]).decode(), base64.b64encode(ROOTS[6]).decode()),
        (f"{ORIGIN}\n", "evil.example/log\n"),
    ],
    ids=["size", "root", "origin"],
)
def test_a_changed_checkpoint_has_a_bad_signature(old: str, new: str) -> None:
    assert old in NOTE
    changed = NOTE.replace(old, new, 1)
    assert (
        _open(changed).reason
        == f"bad signature: the signature by {ORIGIN}+{_key_id(ORIGIN, LOG_KEY).hex()} does not verify"
    )


def test_a_signature_by_another_key_is_rejected() -> None:
    log_id, other_id = _key_id(ORIGIN, LOG_KEY).hex(), _key_id(ORIGIN, OTHER_KEY).hex()
    by_other = sign_checkpoint(CHECKPOINT, ORIGIN, OTHER_KEY)
    assert (
        _open(by_other).reason
        == f"unknown key: no signature by {ORIGIN}+{log_id}, only by {ORIGIN}+{other_id}"
    )
    by_other_name = sign_checkpoint(CHECKPOINT, "other.example/log", LOG_KEY)
    assert _open(by_other_name).reason.startswith(
        f"unknown key: no signature by {ORIGIN}+{log_id}, only by other.example"
    )
    # Another key's signature under the log's name and key ID: matched, verified, refused.
    text = format_checkpoint(CHECKPOINT)
    forged = text + "\n" + _signature_line(ORIGIN, _key_id(ORIGIN, LOG_KEY), OTHER_KEY.sign(text.encode()))
    assert _open(forged).reason.startswith("bad signature")


def test_a_wrong_verifier_key_is_rejected() -> None:
    other_id = _key_id(ORIGIN, OTHER_KEY).hex()
    other_vkey = verifier_key(ORIGIN, OTHER_KEY.public_key())
    assert _open(NOTE, other_vkey).reason.startswith(f"unknown key: no signature by {ORIGIN}+{other_id}")
    # The log's name and key hash with another public key: the verifier key contradicts itself.
    name, key_hash, _ = LOG_VKEY.split("+", 2)
    spliced = f"{name}+{key_hash}+{other_vkey.split('+', 2)[2]}"
    assert _open(NOTE, spliced).reason == (
        f"malformed verifier key: key hash {key_hash} does not match the name and key ({other_id})"
    )


@pytest.mark.parametrize(
    ("vkey", "reason"),
    [
        ("", "malformed verifier key: expected <name>+<key hash>+<base64 key>"),
        (ORIGIN, "malformed verifier key: expected <name>+<key hash>+<base64 key>"),
        ("+abcd1234+AAAA", "malformed verifier key: key name is empty"),
        (f"{ORIGIN}+xyz+AAAA", "malformed verifier key: key hash 'xyz' is not 8 hex digits"),
        (f"{ORIGIN}+abcd1234+not base64!", "malformed verifier key: the key is not base64"),
        (
            f"{ORIGIN}+abcd1234+{base64.b64encode(bytes(33)).decode()}",
            "malformed verifier key: the key is not 0x01",
        ),
        (None, "malformed verifier key: must be a string, not NoneType"),
    ],
)
def test_a_malformed_verifier_key_is_rejected(vkey: Any, reason: str) -> None:
    assert _open(NOTE, vkey).reason.startswith(reason)


def test_a_truncated_note_is_rejected() -> None:
    assert _open(NOTE[:-1]).reason == "malformed note: it does not end with a newline (truncated?)"
    body = format_checkpoint(CHECKPOINT)
    assert _open(body).reason == "malformed note: no blank line separates the text from the signatures"
    assert _open(body + "\n").reason == "malformed note: no signature lines (truncated?)"
    assert _open(NOTE[:-3] + "\n").reason.startswith("malformed note: signature line 1:")  # not base64
    assert _open(NOTE[:-5] + "\n").reason.startswith("bad signature")  # 66 bytes of base64: a short signature
    for cut in range(len(NOTE)):
        assert not _open(NOTE[:cut]).ok


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"{ORIGIN}\nfive\n{base64.b64encode(ROOTS[5]).decode()}\n", "tree size 'five' is not a number"),
        (f"{ORIGIN}\n-5\n{base64.b64encode(ROOTS[5]).decode()}\n", "tree size '-5' is not a number"),
        (f"{ORIGIN}\n\u0665\n{base64.b64encode(ROOTS[5]).decode()}\n", "tree size '\u0665' is not a number"),
        (f"{ORIGIN}\n05\n{base64.b64encode(ROOTS[5]).decode()}\n", "tree size '05' has leading zeros"),
        (
            f"{ORIGIN}\n{2**64}\n{base64.b64encode(ROOTS[5]).decode()}\n",
            "tree size 18446744073709551616 does not fit",
        ),
        (f"{ORIGIN}\n{'9' * 5000}\n{base64.b64encode(ROOTS[5]).decode()}\n", "does not fit in 64 bits"),
        (f"{ORIGIN}\n5\n{ROOTS[5].hex()}\n", "is not base64 of a 32-byte hash"),
        (f"{ORIGIN}\n5\n{base64.b64encode(ROOTS[5][:31]).decode()}\n", "is not base64 of a 32-byte hash"),
        (f"{ORIGIN}\n5\n", "2 line(s), it needs origin, size and root"),
        (f"{ORIGIN}\n\n5\n{base64.b64encode(ROOTS[5]).decode()}\n", "line 2 is empty"),
        (f"{format_checkpoint(CHECKPOINT)}extension\n", "1 extension line(s); this verifier accepts none"),
    ],
)
def test_a_signed_text_that_is_not_a_checkpoint_is_rejected(text: str, reason: str) -> None:
    verdict = _open(sign_note(text, ORIGIN, LOG_KEY))
    assert verdict.reason.startswith("malformed checkpoint: ")
    assert reason in verdict.reason


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        (NOTE.replace("\n", "\r\n"), "malformed note: control character U+000D at offset"),
        ("\ud800" + NOTE, "malformed note: not valid UTF-8"),
        (NOTE.replace(f"{EM_DASH} ", "- "), "malformed note: signature line 1 is not"),
        (
            NOTE.replace(f"{EM_DASH} {ORIGIN} ", f"{EM_DASH} {ORIGIN}  "),
            "malformed note: signature line 1 is not",
        ),
        (NOTE + NOTE.partition("\n\n")[2] * 100, "malformed note: more than 100 signatures"),
        (NOTE.encode(), "malformed note: must be a string, not bytes"),
        (NOTE * 20000, "malformed note: longer than"),
    ],
)
def test_a_malformed_note_is_rejected(note: Any, reason: str) -> None:
    assert _open(note).reason.startswith(reason)


@pytest.mark.parametrize(
    ("checkpoint", "message"),
    [
        (Checkpoint("", 1, ROOTS[1]), "origin '' must be one non-empty line"),
        (Checkpoint("a\nb", 1, ROOTS[1]), "must be one non-empty line"),
        (Checkpoint(ORIGIN, -1, ROOTS[1]), "tree size -1 is not an integer"),
        (Checkpoint(ORIGIN, 2**64, ROOTS[1]), "is not an integer from 0 to 2\\*\\*64-1"),
        (Checkpoint(ORIGIN, 1, b"short"), "root is 5 bytes"),
    ],
)
def test_an_invalid_checkpoint_cannot_be_formatted(checkpoint: Checkpoint, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        format_checkpoint(checkpoint)


@pytest.mark.parametrize("name", ["", "has space", "has+plus", "tab\there"])
def test_key_names_follow_the_signed_note_rules(name: str) -> None:
    with pytest.raises(ValueError, match="key name"):
        sign_checkpoint(CHECKPOINT, name, LOG_KEY)
    with pytest.raises(ValueError, match="key name"):
        verifier_key(name, LOG_KEY.public_key())


def test_sign_note_wants_a_text_ending_in_a_newline() -> None:
    with pytest.raises(ValueError, match="must end with a newline"):
        sign_note("no newline", ORIGIN, LOG_KEY)
