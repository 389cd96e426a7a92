"""Worked examples for the OpenAPI document of the trust domain."""

from __future__ import annotations

from datetime import UTC, datetime

from justmaily.shared import trust as wire

_AT = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
_ROOT = "nZFQ0hW7pVfxC7hTv6zHq3H0kP5G3pYQp8mVbC1tZ4Q="

KEY = wire.LogKey(
    origin="mail.acme.example/transparency",
    verifier_key="mail.acme.example/transparency+3f8c9a1d+AaV0bW9ja2V5Zm9yZG9jdW1lbnRhdGlvbm9ubHkxMjM0",
)
TREE_HEAD = wire.TreeHead(
    size=1204,
    root_hash=_ROOT,
    checkpoint=(
        "mail.acme.example/transparency\n1204\n" + _ROOT + "\n\n"
        "\u2014 mail.acme.example/transparency P4yaHZ2m0e1Wq2...\n"
    ),
    published_at=_AT,
)
ENTRY = wire.LogEntry(
    index=1203,
    kind=wire.EntryKind.APPROVAL,
    leaf="eyJhcHByb3ZlZF9hdCI6IjIwMjYtMDUtMDFUMDk6MzA6MDBaIiwia2luZCI6ImFwcHJvdmFsIn0=",
    data={"kind": "approval", "approved_at": "2026-05-01T09:30:00Z"},
    created_at=_AT,
)
INCLUSION = wire.InclusionProof(index=1203, tree_size=1204, hashes=[_ROOT, _ROOT])
CONSISTENCY = wire.ConsistencyProof(first=1000, second=1204, hashes=[_ROOT, _ROOT])
