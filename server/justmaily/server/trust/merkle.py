"""The log's Merkle tree (RFC 9162 §2.1) over stored nodes: appends, roots and proofs.

Only perfect subtrees are stored: node (level, index) is the hash of the 2**level leaves from
index * 2**level. The root of any size, and every hash of an inclusion or consistency proof, is
one of them or a combination of O(log n) of them, so nothing grows with the log but the depth.

The functions take `node(level, index) -> hash`. To read what they need in one query, run them
first through `needed()`, which records the nodes asked for instead of reading them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from justmaily.shared.verify.transparency import EMPTY_ROOT, HASH_SIZE, node_hash

NodeKey = tuple[int, int]
NodeReader = Callable[[int, int], bytes]
T = TypeVar("T")


def needed(compute: Callable[[NodeReader], T]) -> set[NodeKey]:
    """The nodes `compute` reads, found by running it on placeholder hashes."""
    asked: set[NodeKey] = set()

    def record(level: int, index: int) -> bytes:
        asked.add((level, index))
        return bytes(HASH_SIZE)

    compute(record)
    return asked


def append_nodes(size: int, leaf: bytes, node: NodeReader) -> list[tuple[int, int, bytes]]:
    """The nodes completed by appending leaf hash `leaf` at index `size`: the leaf itself, then
    each subtree it closes (it reads their left halves)."""
    completed = [(0, size, leaf)]
    level, index, current = 0, size, leaf
    while index % 2 == 1:
        current = node_hash(node(level, index - 1), current)
        level, index = level + 1, index // 2
        completed.append((level, index, current))
    return completed


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_hash(lo: int, hi: int, node: NodeReader) -> bytes:
    """MTH of leaves [lo, hi), for ranges the RFC's decomposition produces (lo aligned)."""
    n = hi - lo
    if n & (n - 1) == 0 and lo % n == 0:
        return node(n.bit_length() - 1, lo // n)
    k = _split(n)
    return node_hash(subtree_hash(lo, lo + k, node), subtree_hash(lo + k, hi, node))


def root(size: int, node: NodeReader) -> bytes:
    return EMPTY_ROOT if size == 0 else subtree_hash(0, size, node)


def inclusion(index: int, size: int, node: NodeReader) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1; requires 0 <= index < size."""

    def path(m: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        k = _split(hi - lo)
        if m < k:
            return [*path(m, lo, lo + k), subtree_hash(lo + k, hi, node)]
        return [*path(m - k, lo + k, hi), subtree_hash(lo, lo + k, node)]

    return path(index, 0, size)


def consistency(first: int, second: int, node: NodeReader) -> list[bytes]:
    """PROOF(first, D[0:second]) of RFC 9162 §2.1.4.1; requires 0 < first <= second."""

    def subproof(m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        if m == hi - lo:
            return [] if complete else [subtree_hash(lo, hi, node)]
        k = _split(hi - lo)
        if m <= k:
            return [*subproof(m, lo, lo + k, complete), subtree_hash(lo + k, hi, node)]
        return [*subproof(m - k, lo + k, hi, False), subtree_hash(lo, lo + k, node)]

    return subproof(first, 0, second, True)
