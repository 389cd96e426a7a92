"""Worked examples for the OpenAPI document of the trust domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from justmaily.shared import trust as wire
from justmaily.shared.roles import Role

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
CERTIFICATE = wire.CampaignCertificate(
    serial="5f1d0c2b9a8e7d6c5b4a39281706f5e4d3c2b1a0",
    campaign_id=UUID("0b5c3c52-4d2c-4a51-9d3e-6a0f0f7c2b1e"),
    revision=7,
    content_hash="9f2c5a0e4b7d1c3a8e6f2b4d0c9a7e5f3b1d8c6a4e2f0b9d7c5a3e1f8b6d4c2a",
    approvers=[UUID("5e6f7081-92a3-4b4c-8d5e-6f708192a3b4")],
    approved_at=_AT,
    log_index=1203,
    not_before=_AT,
    not_after=_AT + timedelta(days=1826),
    status=wire.CertificateStatus.VALID,
    pem="-----BEGIN CERTIFICATE-----\nMIIB…\n-----END CERTIFICATE-----\n",
)
MESSAGE_PROOF = wire.MessageProof(
    message_id="<3f2a1b0c9d8e@acme.example>",
    body_sha256="q1Xo2mU0I5xXg6bT0Wm4t3yZz6Qn2b8xVv9cD1eF2gA=",
    batch_index=41,
    batch_size=1520,
    batch_hashes=[_ROOT],
    send_entry=ENTRY,
    inclusion=INCLUSION,
    tree_head=TREE_HEAD,
    certificate=CERTIFICATE,
    log_key=KEY,
    ca_pem="-----BEGIN CERTIFICATE-----\nMIIB…\n-----END CERTIFICATE-----\n",
    crl_pem="-----BEGIN X509 CRL-----\nMIIB…\n-----END X509 CRL-----\n",
)
SERVICE_CREDENTIAL = wire.ServiceCredential(
    id=UUID("7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"),
    serial="1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d",
    name="agent-7",
    role=Role.EDITOR,
    not_before=_AT,
    not_after=_AT + timedelta(days=30),
    status=wire.CertificateStatus.VALID,
    created_at=_AT,
)
ISSUED_CREDENTIAL = wire.IssuedServiceCredential(
    credential=SERVICE_CREDENTIAL,
    certificate_pem="-----BEGIN CERTIFICATE-----\nMIIB…\n-----END CERTIFICATE-----\n",
    private_key_pem="-----BEGIN PRIVATE KEY-----\n(shown once)\n-----END PRIVATE KEY-----\n",
)
