"""The trust log on the wire: entries, signed tree heads, proofs and campaign certificates.

Hashes and proofs travel as base64 (standard alphabet, padded), as in C2SP checkpoints. An
entry carries `leaf`, the exact bytes its leaf hash covers (RFC 9162: SHA-256 of 0x00 || leaf):
a verifier hashes those bytes itself and never trusts a hash the server computed. `data` is the
same leaf decoded, for reading. Verification itself lives in `transparency.py`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec

from justmaily.shared.roles import Role


class EntryKind(enum.StrEnum):
    APPROVAL = "approval"  # a campaign's content was approved
    SEND = "send"  # a send finished: the Merkle root of its messages' digests
    CERTIFICATE_ISSUED = "certificate_issued"
    CERTIFICATE_REVOKED = "certificate_revoked"
    KEY_ROTATION = "key_rotation"  # the log's or the CA's key changed
    AUDIT_ROOT = "audit_root"  # a day of the audit log: the Merkle root of its entries
    CONTENT_CHECK = "content_check"  # the mesh's verdicts on approved content as a send started


class LogEntry(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    kind: EntryKind
    leaf: str  # base64 of the exact leaf bytes (canonical JSON)
    data: dict[str, Any]  # `leaf` decoded
    created_at: datetime


class TreeHead(msgspec.Struct, frozen=True, kw_only=True):
    """A signed tree head: `checkpoint` is the C2SP signed note; size and root repeat what it says."""

    size: int
    root_hash: str
    checkpoint: str
    published_at: datetime


class LogKey(msgspec.Struct, frozen=True, kw_only=True):
    """What a verifier pins: the log's origin line and its signed-note verifier key."""

    origin: str
    verifier_key: str


class InclusionProof(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    tree_size: int
    hashes: list[str]


class ConsistencyProof(msgspec.Struct, frozen=True, kw_only=True):
    first: int
    second: int
    hashes: list[str]


class CertificateStatus(enum.StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    EXPIRED = "expired"


class CampaignCertificate(msgspec.Struct, frozen=True, kw_only=True):
    """What an approval's certificate binds, its status, and the certificate itself (PEM)."""

    serial: str  # hex
    campaign_id: UUID
    revision: int
    content_hash: str
    approvers: list[UUID]
    approved_at: datetime
    log_index: int
    not_before: datetime
    not_after: datetime
    status: CertificateStatus
    pem: str
    revoked_at: datetime | None = None
    revocation_reason: str = ""


class MessageProof(msgspec.Struct, frozen=True, kw_only=True):
    """Everything needed to check one sent message offline (`justmaily verify message`).

    The chain: the message's leaf (`evidence.message_leaf` of its Message-ID and body hash) is at
    `batch_index` of the send's batch tree, whose root is `batch_root` in `send_entry`'s data;
    that entry is in the log tree `tree_head` signed; the entry names the certificate, whose
    binding names the approved content hash the entry repeats. A verifier trusts only its own
    pinned log key and CA certificate: `log_key` and `ca_pem` say what the server claims.
    """

    message_id: str
    body_sha256: str
    batch_index: int
    batch_size: int
    batch_hashes: list[str]
    send_entry: LogEntry
    inclusion: InclusionProof
    tree_head: TreeHead
    certificate: CampaignCertificate
    log_key: LogKey
    ca_pem: str
    crl_pem: str


# The header every sent message carries: which certificate and log entry vouch for its content.
CERTIFICATE_HEADER = "JustMaily-Certificate"


ServiceName = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", examples=["agent-7"]),
]


class ServiceCredentialCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A credential for a process (a replica, an agent) to call the API as `role` (not owner or
    admin: machines get least privilege), valid `valid_days`."""

    name: ServiceName
    role: Role
    valid_days: Annotated[int, msgspec.Meta(ge=1, le=90)] = 30


class ServiceCredential(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    serial: str
    name: str
    role: Role
    not_before: datetime
    not_after: datetime
    status: CertificateStatus
    created_at: datetime
    revoked_at: datetime | None = None
    renewed_from: UUID | None = None


class IssuedServiceCredential(msgspec.Struct, frozen=True, kw_only=True):
    """The certificate and its private key, shown once: the server keeps no copy of the key."""

    credential: ServiceCredential
    certificate_pem: str
    private_key_pem: str


# A service token lives at most this long (`service_tokens.py`): a stolen one is soon useless.
SERVICE_TOKEN_MAX_SECONDS = 300
