"""The stored-node Merkle tree against the reference implementation and the offline verifier."""

from __future__ import annotations

import hashlib

from justmaily.server.trust import merkle
from justmaily.shared.verify import transparency as reference


def build(count: int) -> tuple[list[bytes], dict[merkle.NodeKey, bytes]]:
    """`count` leaves appended one by one, as the log does; returns the leaves' data and the nodes."""
    leaves = [hashlib.sha256(str(n).encode()).digest() for n in range(count)]
    nodes: dict[merkle.NodeKey, bytes] = {}
    for index, data in enumerate(leaves):
        appended = merkle.append_nodes(index, reference.leaf_hash(data), lambda lv, ix: nodes[(lv, ix)])
        for level, position, value in appended:
            nodes[(level, position)] = value
    return leaves, nodes


def test_roots_and_proofs_match_the_reference_for_every_size_up_to_70() -> None:
    leaves, nodes = build(70)
    node = lambda level, index: nodes[(level, index)]  # noqa: E731
    assert merkle.root(0, node) == reference.EMPTY_ROOT
    for size in range(1, 71):
        root = merkle.root(size, node)
        assert root == reference.root_hash(leaves[:size])
        for index in range(size):
            proof = merkle.inclusion(index, size, node)
            assert proof == reference.inclusion_proof(leaves[:size], index)
            assert reference.verify_inclusion(reference.leaf_hash(leaves[index]), index, size, proof, root)
        for first in range(1, size + 1):
            proof = merkle.consistency(first, size, node)
            assert proof == reference.consistency_proof(leaves[:size], first)
            assert reference.verify_consistency(first, size, merkle.root(first, node), root, proof)


def test_only_perfect_subtrees_are_stored_and_a_proof_reads_few_of_them() -> None:
    _, nodes = build(1000)
    assert len(nodes) == 1000 + 500 + 250 + 125 + 62 + 31 + 15 + 7 + 3 + 1  # about 2n
    for key in nodes:
        level, index = key
        assert (index + 1) << level <= 1000
    node = lambda level, index: nodes[(level, index)]  # noqa: E731
    reads = merkle.needed(lambda n: merkle.inclusion(613, 1000, n))
    assert len(reads) <= 2 * 10
    assert merkle.needed(lambda n: merkle.root(1000, n)) <= set(nodes)
    assert merkle.needed(lambda n: merkle.consistency(377, 1000, n)) <= set(nodes)
    assert merkle.inclusion(613, 1000, node)  # the recorded nodes are the ones it reads
