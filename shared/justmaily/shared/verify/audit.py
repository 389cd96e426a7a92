"""Offline audits with a readable verdict: a saved message, a campaign certificate, a log entry.

This is what ``justmaily verify`` runs. Each audit is a chain of small checks, every one reported
in order with its reason, so a reader sees which link holds and which breaks. For a sent message:

1. the saved copy is the message the proof bundle is about (Message-ID), and carries the
   ``JustMaily-Certificate`` header naming its certificate, approval and approved content;
2. its body hashes (DKIM's relaxed canonicalization, ``evidence.body_hash``) to the hash the send
   recorded, and any DKIM signature's ``bh=`` says the same;
3. the bundle's send entry is a ``send`` record, and the message's leaf is in that send's batch
   tree (whose root the entry holds);
4. that entry is in the log tree of a checkpoint signed by the *pinned* log key, at exactly the
   checkpoint's size;
5. the certificate the entry names was issued by the *pinned* CA and was valid, and not revoked,
   when the send finished; its binding names the same approved content, approval and serial as
   the entry and the header.

Only what the auditor pins is trusted: the log key and the CA certificate are parameters, never
taken from the bundle (which repeats the server's claims; a difference is a failed check). An
entry's ``data`` is the server's decoding of its ``leaf``: the checks read the leaf bytes, whose
hash the log proves, and a ``data`` that says something else fails.

Revocation, decided here: a campaign certificate attests an approval that already happened. A
message sent while its certificate was valid stays a message sent under a valid approval, so a
certificate that expired or was revoked *after* the send is an advisory check (``!``, a warning
in the verdict), not a failure; one revoked at or before the send, or not valid at the send, is a
failure. A CRL is read as evidence about a moment: it must be the pinned CA's and must not have
been stale at that moment; a CRL issued later is better evidence, not worse (each entry carries
its revocation date), which is why these audits read the CRL themselves instead of through
``certificates.verify_campaign_certificate``, which wants a CRL current at the time it checks.

Like the verifiers it builds on, every audit is pure, does no I/O, and never raises on bad input,
however malformed: an input it cannot read is a failed check whose reason says why.
"""

from __future__ import annotations

import base64
import binascii
import email.message
import email.parser
import email.policy
import enum
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from justmaily.shared.trust import (
    CERTIFICATE_HEADER,
    CertificateStatus,
    EntryKind,
    InclusionProof,
    LogEntry,
    MessageProof,
)
from justmaily.shared.verify import evidence
from justmaily.shared.verify.certificates import (
    CampaignBinding,
    certificate_status,
    verify_campaign_certificate,
)
from justmaily.shared.verify.transparency import (
    Checkpoint,
    Verdict,
    leaf_hash,
    open_checkpoint,
    verify_inclusion,
)

__all__ = [
    "Check",
    "Level",
    "Report",
    "format_report",
    "verify_certificate",
    "verify_entry",
    "verify_message",
]

_HEX_HASH = re.compile(r"[0-9a-f]{64}")
_HEX_SERIAL = re.compile(r"[0-9a-fA-F]{1,64}")  # X.509 serials are at most 20 octets; leave room
_DKIM = "DKIM-Signature"
_UNREADABLE = "could not be checked"


class Level(enum.StrEnum):
    REQUIRED = "required"  # a failure makes the report invalid
    ADVISORY = "advisory"  # reported, never decides: e.g. a certificate revoked after the send


class Check(msgspec.Struct, frozen=True):
    """One link of an audit: what was checked, whether it holds, and why (either way)."""

    name: str
    ok: bool
    reason: str
    level: Level = Level.REQUIRED


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """An audit's checks in order, the overall verdict, and the facts it establishes.

    The verdict fails when a required check fails and its reason names the first one; advisory
    checks that fail only add a warning. ``facts`` are (label, value) pairs for a reader, e.g. the
    certificate binding's campaign, content hash and approvers; they are proven only when the
    verdict is valid. A report is truthy only when its verdict is.
    """

    subject: str
    verdict: Verdict
    checks: list[Check]
    facts: list[tuple[str, str]] = []

    def __bool__(self) -> bool:
        return self.verdict.ok

    @property
    def warnings(self) -> list[Check]:
        return [check for check in self.checks if not check.ok and check.level is Level.ADVISORY]


_T = TypeVar("_T")


class _FailedError(Exception):
    """Raised inside a check: its message is the check's reason."""


class _SendRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The fields of a `send` entry's leaf that an audit reads (unknown ones are ignored, so a
    newer server may add fields)."""

    workspace_id: UUID
    send_id: UUID
    campaign_id: UUID
    content_hash: Annotated[str, msgspec.Meta(pattern=_HEX_HASH.pattern)]
    certificate_serial: Annotated[str, msgspec.Meta(pattern=_HEX_SERIAL.pattern)]
    messages: Annotated[int, msgspec.Meta(ge=1)]
    batch_root: str
    finished_at: Annotated[datetime, msgspec.Meta(tz=True)]


@dataclass(frozen=True)
class _Pointer:
    """The ``JustMaily-Certificate`` header: which certificate, approval and content vouch for a message."""

    serial: int
    approval: int
    content_hash: str


@dataclass
class _Audit:
    """Collects checks in order. Each runs on its own, so one unreadable input never hides the
    verdicts on the others; a check whose input an earlier check could not establish says so."""

    checks: list[Check] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)

    def check(self, name: str, run: Callable[[], str], level: Level = Level.REQUIRED) -> bool:
        try:
            reason = run()
        except _FailedError as failed:
            self.checks.append(Check(name, False, str(failed), level))
            return False
        # The audits promise never to raise on bad input: whatever a parser we call raises on
        # bytes nobody foresaw is a failed check, not a traceback.
        except Exception as error:
            self.checks.append(Check(name, False, f"{_UNREADABLE}: {type(error).__name__}: {error}", level))
            return False
        self.checks.append(Check(name, True, reason, level))
        return True

    def report(self, subject: str) -> Report:
        failed = next((c for c in self.checks if not c.ok and c.level is Level.REQUIRED), None)
        warning = next((c for c in self.checks if not c.ok), None)
        if failed is not None:
            verdict = Verdict(ok=False, reason=f"{failed.name}: {failed.reason}")
        elif warning is not None:
            verdict = Verdict(ok=True, reason=f"valid, with a warning: {warning.name}: {warning.reason}")
        else:
            verdict = Verdict(ok=True, reason="valid")
        return Report(subject=subject, verdict=verdict, checks=self.checks, facts=self.facts)


def _need(value: _T | None, what: str) -> _T:
    """A value an earlier check had to establish; without it this check cannot run."""
    if value is None:
        raise _FailedError(f"not checked: {what}")
    return value


# --- Small readers --------------------------------------------------------------------------------------


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _now(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC).replace(microsecond=0)
    if at.tzinfo is None or at.utcoffset() is None:
        raise _FailedError("the time to check at must be timezone-aware")
    return at.astimezone(UTC)


def _b64(what: str, text: object) -> bytes:
    if not isinstance(text, str):
        raise _FailedError(f"{what} must be base64 text, not {type(text).__name__}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _FailedError(f"{what} is not base64") from None


def _hashes(what: str, items: Iterable[object]) -> list[bytes]:
    return [_b64(f"{what} {i}", item) for i, item in enumerate(items)]


def _serial(what: str, text: object) -> int:
    if not isinstance(text, str) or not _HEX_SERIAL.fullmatch(text.strip()):
        raise _FailedError(f"{what} {text!r} is not a hexadecimal serial number")
    return int(text.strip(), 16)


def _key_name(log_key: str) -> str:
    return log_key.split("+", 1)[0]


def _pem_bytes(pem: str | bytes) -> bytes:
    return pem.encode("ascii") if isinstance(pem, str) else pem


def _load_certificate(what: str, pem: str | bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(_pem_bytes(pem))
    except (ValueError, TypeError, UnicodeError) as error:
        raise _FailedError(f"{what} is not a PEM certificate: {error}") from None


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()


def _decoded_leaf(entry: LogEntry) -> tuple[bytes, dict[str, Any]]:
    """The entry's leaf bytes and their JSON, which must be what the server's `data` says."""
    leaf = _b64("the entry's leaf", entry.leaf)
    try:
        decoded = msgspec.json.decode(leaf)
    except msgspec.DecodeError as error:
        raise _FailedError(f"the entry's leaf is not JSON: {error}") from None
    if not isinstance(decoded, dict):
        raise _FailedError("the entry's leaf is not a JSON object")
    if decoded.get("kind") != entry.kind:
        raise _FailedError(
            f"the entry says it is of kind {str(entry.kind)!r}, its leaf {decoded.get('kind')!r}"
        )
    if {k: v for k, v in decoded.items() if k != "kind"} != {
        k: v for k, v in entry.data.items() if k != "kind"
    }:
        # The leaf is what the log proves; a `data` that differs is a server showing one thing
        # and proving another.
        raise _FailedError("the entry's data differs from its leaf (the bytes the log proves)")
    return leaf, decoded


def _open(checkpoint: str, log_key: str, *, size: int | None = None, root: str | None = None) -> Checkpoint:
    """A checkpoint signed by the pinned key, for the log that key names."""
    opened, verdict = open_checkpoint(checkpoint, log_key)
    if opened is None:
        raise _FailedError(f"the tree head is not signed by the pinned log key: {verdict.reason}")
    if opened.origin != _key_name(log_key):
        raise _FailedError(
            f"the tree head is of the log {opened.origin!r}, the pinned key is {_key_name(log_key)!r}'s"
        )
    # The tree head's size and root repeat the signed checkpoint; a bundle that disagrees with
    # itself is not evidence.
    if size is not None and size != opened.size:
        raise _FailedError(f"the tree head says size {size}, its signed checkpoint {opened.size}")
    if root is not None and root != base64.b64encode(opened.root).decode():
        raise _FailedError("the tree head's root differs from its signed checkpoint's")
    return opened


def _in_log(leaf: bytes, index: int, inclusion: InclusionProof, checkpoint: Checkpoint) -> str:
    if inclusion.tree_size != checkpoint.size:
        # A proof ties a hash to a root, not to a size: only a proof for the signed size counts.
        raise _FailedError(
            f"the inclusion proof is for a tree of {inclusion.tree_size} entries, "
            f"the signed tree head is of {checkpoint.size}: a proof for another tree size proves nothing"
        )
    if inclusion.index != index:
        raise _FailedError(f"the inclusion proof is for entry #{inclusion.index}, not #{index}")
    hashes = _hashes("inclusion proof hash", inclusion.hashes)
    verdict = verify_inclusion(leaf_hash(leaf), index, checkpoint.size, hashes, checkpoint.root)
    if not verdict:
        raise _FailedError(f"the entry is not in the signed log: {verdict.reason}")
    return f"entry #{index} is in the signed tree of {checkpoint.size} entries"


def _revocation(
    certificate: x509.Certificate, ca: x509.Certificate, crl_pem: str | bytes, at: datetime
) -> str:
    """Whether the pinned CA's CRL shows ``certificate`` revoked at or before ``at``.

    The CRL must be the CA's (issuer and signature) and not already stale at ``at``. It may have
    been issued later than ``at``: its entries carry their revocation dates.
    """
    try:
        crl = x509.load_pem_x509_crl(_pem_bytes(crl_pem))
    except (ValueError, TypeError, UnicodeError) as error:
        raise _FailedError(f"the CRL is not a PEM CRL: {error}") from None
    if crl.issuer != ca.subject:
        raise _FailedError(f"the CRL was issued by {crl.issuer.rfc4514_string()!r}, not by the pinned CA")
    public = ca.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or not crl.is_signature_valid(public):
        raise _FailedError("the CRL is forged: its signature does not verify with the pinned CA's key")
    issued, next_update = crl.last_update_utc, crl.next_update_utc
    if next_update is not None and next_update < at:
        raise _FailedError(
            f"the CRL is stale at {_when(at)}: it was issued on {_when(issued)}, "
            f"its next update was due on {_when(next_update)}"
        )
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    if entry is None:
        return f"not on the CA's CRL of {_when(issued)}"
    revoked_at = entry.revocation_date_utc
    try:
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
    except x509.ExtensionNotFound:
        reason = "reason unspecified"
    if revoked_at <= at:
        raise _FailedError(
            f"the certificate was revoked on {_when(revoked_at)} ({reason}), before {_when(at)}"
        )
    return f"not revoked at {_when(at)} (revoked later, on {_when(revoked_at)}: {reason})"


def _binding_facts(binding: CampaignBinding) -> list[tuple[str, str]]:
    return [
        ("campaign", f"{binding.campaign_id} (revision {binding.revision})"),
        ("workspace", str(binding.workspace_id)),
        ("content hash", binding.content_hash),
        ("approvers", ", ".join(str(approver) for approver in binding.approvers)),
        ("approved at", _when(binding.approved_at)),
        ("approval entry", f"#{binding.log_index}"),
    ]


# --- A sent message ------------------------------------------------------------------------------------


def _pointer(value: str) -> _Pointer:
    fields: dict[str, str] = {}
    for part in " ".join(value.split()).split(";"):
        if not part.strip():
            continue
        key, equals, item = part.partition("=")
        key = key.strip().lower()
        if not equals or key in fields:
            raise _FailedError(f"the {CERTIFICATE_HEADER} header is malformed: {value!r}")
        fields[key] = item.strip()
    missing = [key for key in ("serial", "approval", "content-hash") if key not in fields]
    if missing:
        raise _FailedError(f"the {CERTIFICATE_HEADER} header has no {', '.join(missing)}: {value!r}")
    approval, content_hash = fields["approval"], fields["content-hash"].lower()
    if not approval.isascii() or not approval.isdigit():
        raise _FailedError(f"the {CERTIFICATE_HEADER} header's approval {approval!r} is not a log index")
    if not _HEX_HASH.fullmatch(content_hash):
        raise _FailedError(f"the {CERTIFICATE_HEADER} header's content-hash is not 64 hex digits")
    return _Pointer(
        serial=_serial(f"the {CERTIFICATE_HEADER} header's serial", fields["serial"]),
        approval=int(approval),
        content_hash=content_hash,
    )


def _dkim_tags(value: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in value.split(";"):
        key, _, item = part.partition("=")
        tags[key.strip()] = "".join(item.split())  # FWS may fold any tag value
    return tags


class _MessageAudit:
    """The checks of ``verify_message``, sharing what earlier checks establish."""

    def __init__(
        self, raw: bytes, proof: MessageProof, log_key: str, ca_pem: str | bytes, at: datetime | None
    ):
        self.raw, self.proof, self.log_key, self.ca_pem, self.at = raw, proof, log_key.strip(), ca_pem, at
        self.headers: email.message.Message | None = None
        self.body: bytes | None = None
        self.pointer: _Pointer | None = None
        self.leaf: bytes | None = None
        self.send: _SendRecord | None = None
        self.checkpoint: Checkpoint | None = None
        self.binding: CampaignBinding | None = None
        self.certificate: x509.Certificate | None = None
        self.ca: x509.Certificate | None = None

    def message_id(self) -> str:
        message_id, self.body = evidence.split_message(bytes(self.raw))
        normalised = self.raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        header = normalised.split(b"\r\n\r\n", 1)[0] + b"\r\n"
        self.headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(header)
        if message_id != self.proof.message_id:
            raise _FailedError(
                f"the saved message is {message_id}, the proof is about {self.proof.message_id}"
            )
        return f"{message_id}, as in the proof"

    def pointer_header(self) -> str:
        headers = _need(self.headers, "the message could not be read")
        values = headers.get_all(CERTIFICATE_HEADER) or []
        if not values:
            raise _FailedError(f"the message has no {CERTIFICATE_HEADER} header")
        if len(values) > 1:
            raise _FailedError(f"the message has {len(values)} {CERTIFICATE_HEADER} headers, not one")
        self.pointer = pointer = _pointer(str(values[0]))
        return f"certificate {pointer.serial:x}, approval entry #{pointer.approval}"

    def body_hash(self) -> str:
        body = _need(self.body, "the message could not be read")
        computed = evidence.body_hash(body)
        if computed != self.proof.body_sha256:
            raise _FailedError(
                f"the body was changed after it was sent: it hashes to {computed}, "
                f"the send recorded {self.proof.body_sha256}"
            )
        return f"{computed}, as recorded when it was sent"

    def dkim(self) -> str:
        headers = _need(self.headers, "the message could not be read")
        body = _need(self.body, "the message could not be read")
        computed = evidence.body_hash(body)
        signatures = [_dkim_tags(str(value)) for value in headers.get_all(_DKIM) or []]
        if not signatures:
            return "no DKIM signature in the saved copy (nothing to compare)"
        compared: list[str] = []
        for tags in signatures:
            # Only a relaxed body hash over the whole body (no l=) with SHA-256 is ours to compare.
            body_canon = tags.get("c", "simple/simple").partition("/")[2] or "simple"
            if body_canon != "relaxed" or "l" in tags or not tags.get("a", "").endswith("sha256"):
                continue
            if tags.get("bh") != computed:
                raise _FailedError(
                    f"the DKIM signature of {tags.get('d', '?')} signs another body (bh={tags.get('bh')}), "
                    f"not this one ({computed})"
                )
            compared.append(tags.get("d", "?"))
        if not compared:
            return f"{len(signatures)} DKIM signature(s), none with a relaxed SHA-256 body hash to compare"
        return f"bh= of {len(compared)} DKIM signature(s) ({', '.join(sorted(set(compared)))}) is this body's"

    def send_entry(self) -> str:
        entry = self.proof.send_entry
        leaf, decoded = _decoded_leaf(entry)
        if entry.kind != EntryKind.SEND:
            raise _FailedError(f"entry #{entry.index} is of kind {str(entry.kind)!r}, not 'send'")
        try:
            self.send = send = msgspec.convert(decoded, _SendRecord)
        except msgspec.ValidationError as error:
            raise _FailedError(f"entry #{entry.index} is not a well-formed send record: {error}") from None
        self.leaf = leaf
        finished = _when(send.finished_at)
        return f"entry #{entry.index}: send {send.send_id}, {send.messages} messages, finished {finished}"

    def batch(self) -> str:
        send = _need(self.send, "the send entry is unusable")
        proof = self.proof
        if proof.batch_size != send.messages:
            raise _FailedError(
                f"the proof is for a batch of {proof.batch_size} messages, "
                f"the send entry records {send.messages}"
            )
        root = _b64("the send entry's batch_root", send.batch_root)
        leaf = evidence.message_leaf(proof.message_id, proof.body_sha256)
        hashes = _hashes("batch proof hash", proof.batch_hashes)
        verdict = verify_inclusion(leaf_hash(leaf), proof.batch_index, proof.batch_size, hashes, root)
        if not verdict:
            raise _FailedError(f"the message is not in the send's batch: {verdict.reason}")
        return f"message {proof.batch_index + 1} of {proof.batch_size} in the send's batch tree"

    def claimed_log_key(self) -> str:
        claimed = self.proof.log_key
        if claimed.verifier_key.strip() != self.log_key:
            raise _FailedError(
                f"the bundle names the log key {claimed.verifier_key!r}, not the pinned {self.log_key!r}"
            )
        if claimed.origin != _key_name(self.log_key):
            raise _FailedError(
                f"the bundle names the log {claimed.origin!r}, the key {_key_name(self.log_key)!r}"
            )
        return "the bundle names the pinned key"

    def tree_head(self) -> str:
        head = self.proof.tree_head
        self.checkpoint = cp = _open(head.checkpoint, self.log_key, size=head.size, root=head.root_hash)
        return f"size {cp.size}, signed by {_key_name(self.log_key)}"

    def inclusion(self) -> str:
        leaf = _need(self.leaf, "the send entry is unusable")
        checkpoint = _need(self.checkpoint, "no signed tree head")
        return _in_log(leaf, self.proof.send_entry.index, self.proof.inclusion, checkpoint)

    def claimed_ca(self) -> str:
        pinned = _load_certificate("the pinned CA certificate", self.ca_pem)
        claimed = _load_certificate("the bundle's CA certificate", self.proof.ca_pem)
        if claimed != pinned:  # cryptography compares certificates by their DER bytes
            raise _FailedError(
                f"the bundle names the CA {_common_name(claimed)!r}, not the pinned {_common_name(pinned)!r}"
            )
        return f"the bundle names the pinned CA {_common_name(pinned)!r}"

    def certificate_at_send(self) -> str:
        send = _need(self.send, "the send entry is unusable")
        pem = self.proof.certificate.pem
        binding, verdict = verify_campaign_certificate(pem, self.ca_pem, at=send.finished_at)
        if binding is None:
            raise _FailedError(f"when the message was sent ({_when(send.finished_at)}): {verdict.reason}")
        self.binding = binding
        self.certificate = _load_certificate("the campaign certificate", pem)
        self.ca = _load_certificate("the pinned CA certificate", self.ca_pem)
        return f"issued by the pinned CA {_common_name(self.ca)!r}, valid when the message was sent"

    def revocation_at_send(self) -> str:
        send = _need(self.send, "the send entry is unusable")
        certificate = _need(self.certificate, "the certificate is not genuine")
        ca = _need(self.ca, "the certificate is not genuine")
        return _revocation(certificate, ca, self.proof.crl_pem, send.finished_at)

    def status_now(self) -> str:
        now = _now(self.at)
        _need(self.binding, "the certificate is not genuine")
        status, verdict = certificate_status(
            self.proof.certificate.pem, self.ca_pem, at=now, crl_pem=self.proof.crl_pem
        )
        if status is CertificateStatus.VALID:
            return f"valid and not revoked at {_when(now)}"
        if status is None:
            raise _FailedError(f"unknown at {_when(now)}: {verdict.reason}")
        # Expired or revoked after the send: the message was sent under a valid approval.
        raise _FailedError(f"{status} after the send: {verdict.reason}")

    def content(self) -> str:
        binding = _need(self.binding, "the certificate is not genuine")
        send = _need(self.send, "the send entry is unusable")
        pointer = _need(self.pointer, f"no readable {CERTIFICATE_HEADER} header")
        if send.content_hash != binding.content_hash:
            raise _FailedError(
                f"the send entry records content {send.content_hash}, "
                f"the certificate approved {binding.content_hash}"
            )
        if pointer.content_hash != binding.content_hash:
            raise _FailedError(
                f"the message header names content {pointer.content_hash}, "
                f"the certificate approved {binding.content_hash}"
            )
        if send.campaign_id != binding.campaign_id or send.workspace_id != binding.workspace_id:
            raise _FailedError(
                f"the send is of campaign {send.campaign_id}, "
                f"the certificate of campaign {binding.campaign_id}"
            )
        return f"{binding.content_hash} (entry, certificate and header agree)"

    def serials(self) -> str:
        certificate = _need(self.certificate, "the certificate is not genuine")
        binding = _need(self.binding, "the certificate is not genuine")
        send = _need(self.send, "the send entry is unusable")
        pointer = _need(self.pointer, f"no readable {CERTIFICATE_HEADER} header")
        actual = certificate.serial_number
        named = {
            "the message header": pointer.serial,
            "the send entry": _serial("the send entry's certificate_serial", send.certificate_serial),
            "the bundle": _serial("the bundle's certificate serial", self.proof.certificate.serial),
        }
        for where, serial in named.items():
            if serial != actual:
                raise _FailedError(f"{where} names certificate {serial:x}, the certificate is {actual:x}")
        if pointer.approval != binding.log_index:
            raise _FailedError(
                f"the message header names approval entry #{pointer.approval}, "
                f"the certificate #{binding.log_index}"
            )
        return (
            f"certificate {actual:x}, approval entry #{binding.log_index} (header, entry, certificate agree)"
        )

    def run(self) -> Report:
        audit = _Audit()
        audit.check("Message-ID", self.message_id)
        audit.check(CERTIFICATE_HEADER, self.pointer_header)
        audit.check("body", self.body_hash)
        audit.check("DKIM body hash", self.dkim)
        audit.check("send entry", self.send_entry)
        audit.check("in the send's batch", self.batch)
        audit.check("log key", self.claimed_log_key)
        audit.check("tree head", self.tree_head)
        audit.check("in the log", self.inclusion)
        audit.check("CA", self.claimed_ca)
        audit.check("certificate at send", self.certificate_at_send)
        audit.check("not revoked at send", self.revocation_at_send)
        audit.check("certificate now", self.status_now, Level.ADVISORY)
        audit.check("approved content", self.content)
        audit.check("serial and approval", self.serials)
        audit.facts.append(("Message-ID", self.proof.message_id))
        if self.send is not None:
            audit.facts += [
                ("sent at", _when(self.send.finished_at)),
                ("send", f"{self.send.send_id} (log entry #{self.proof.send_entry.index})"),
            ]
        if self.checkpoint is not None:
            audit.facts.append(("signed tree size", str(self.checkpoint.size)))
        if self.binding is not None and self.certificate is not None:
            audit.facts += [
                *_binding_facts(self.binding),
                ("certificate", f"{self.certificate.serial_number:x}"),
            ]
        return audit.report(f"message {self.proof.message_id}")


def verify_message(
    raw: bytes, proof: MessageProof, *, log_key: str, ca_pem: str | bytes, at: datetime | None = None
) -> Report:
    """Whether ``raw``, a saved copy of a sent message, is what was approved and sent.

    ``log_key`` (signed-note verifier key) and ``ca_pem`` are what the auditor pinned; the bundle's
    own ``log_key`` and ``ca_pem`` must agree with them. ``at`` is the time of the audit (default:
    now), used only for the advisory status of the certificate now; the certificate is judged at
    the time the send finished, as the log recorded it. See the module docstring for the checks.
    """
    try:
        return _MessageAudit(raw, proof, log_key, ca_pem, at).run()
    except Exception as error:  # a bundle whose very fields are of the wrong types
        return _broken(f"message {getattr(proof, 'message_id', '?')}", error)


# --- A certificate ---------------------------------------------------------------------------------------


def verify_certificate(
    cert_pem: str | bytes,
    *,
    ca_pem: str | bytes,
    crl_pem: str | bytes | None = None,
    at: datetime | None = None,
) -> Report:
    """Whether a campaign certificate is genuine (issued by the pinned CA ``ca_pem``), valid at ``at``
    (default: now) and, given a CRL, not revoked at ``at``; the facts are its binding.

    Without a CRL revocation is not checked: an advisory check says so.
    """
    audit = _Audit()
    state: dict[str, Any] = {}

    def genuine() -> str:
        # Judge the signature and profile at a moment inside the validity period, so "forged" and
        # "expired" are told apart; whether it is valid at `at` is the next check.
        when = _now(at)
        certificate = _load_certificate("the campaign certificate", cert_pem)
        ca = _load_certificate("the CA certificate", ca_pem)
        inside = min(max(when, certificate.not_valid_before_utc), certificate.not_valid_after_utc)
        binding, verdict = verify_campaign_certificate(cert_pem, ca_pem, at=inside)
        if binding is None:
            raise _FailedError(verdict.reason)
        state.update(binding=binding, certificate=certificate, ca=ca)
        return f"issued by the pinned CA {_common_name(ca)!r}, serial {certificate.serial_number:x}"

    def valid_at() -> str:
        when = _now(at)
        certificate: x509.Certificate = _need(state.get("certificate"), "the certificate is not genuine")
        status, verdict = certificate_status(cert_pem, ca_pem, at=when)
        if status is not CertificateStatus.VALID:
            raise _FailedError(verdict.reason)
        return (
            f"at {_when(when)}: valid from {_when(certificate.not_valid_before_utc)} "
            f"to {_when(certificate.not_valid_after_utc)}"
        )

    def not_revoked() -> str:
        certificate: x509.Certificate = _need(state.get("certificate"), "the certificate is not genuine")
        if crl_pem is None:
            raise _FailedError("not checked: no CRL given (GET /api/transparency/crl)")
        return _revocation(certificate, state["ca"], crl_pem, _now(at))

    audit.check("genuine", genuine)
    audit.check("valid", valid_at)
    audit.check("not revoked", not_revoked, Level.REQUIRED if crl_pem is not None else Level.ADVISORY)
    binding = state.get("binding")
    if binding is not None:
        audit.facts += _binding_facts(binding)
    return audit.report("campaign certificate")


# --- A log entry -----------------------------------------------------------------------------------------


def verify_entry(entry: LogEntry, inclusion: InclusionProof, checkpoint: str, *, log_key: str) -> Report:
    """Whether ``entry`` is in the log tree of ``checkpoint``, a tree head signed by the pinned
    ``log_key``; the facts are the entry's leaf (not the server's `data`)."""
    audit = _Audit()
    state: dict[str, Any] = {}

    def leaf() -> str:
        state["leaf"], state["decoded"] = _decoded_leaf(entry)
        return f"entry #{entry.index}, a {entry.kind} entry; its data is its leaf"

    def tree_head() -> str:
        state["checkpoint"] = cp = _open(checkpoint, log_key.strip())
        return f"size {cp.size}, signed by {_key_name(log_key.strip())}"

    def included() -> str:
        return _in_log(
            _need(state.get("leaf"), "the entry is unusable"),
            entry.index,
            inclusion,
            _need(state.get("checkpoint"), "no signed tree head"),
        )

    try:
        audit.check("entry", leaf)
        audit.check("tree head", tree_head)
        audit.check("in the log", included)
        decoded: dict[str, Any] = state.get("decoded") or {}
        audit.facts += [("kind", str(decoded.get("kind", "?"))), ("index", f"#{entry.index}")]
        audit.facts += [(key, _fact(value)) for key, value in sorted(decoded.items()) if key != "kind"]
    except Exception as error:  # fields of the wrong types
        return _broken(f"log entry #{getattr(entry, 'index', '?')}", error)
    return audit.report(f"log entry #{entry.index}")


def _fact(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def _broken(subject: str, error: Exception) -> Report:
    check = Check("input", False, f"{_UNREADABLE}: {type(error).__name__}: {error}")
    return Report(subject=subject, verdict=Verdict(ok=False, reason=f"input: {check.reason}"), checks=[check])


# --- Reading a report -------------------------------------------------------------------------------------

_MARKS = {(True, Level.REQUIRED): "✓", (True, Level.ADVISORY): "✓", (False, Level.REQUIRED): "✗"}


def format_report(report: Report) -> str:
    """The report for a terminal: the verdict, one aligned line per check (✓ holds, ✗ fails, !
    a warning) and the facts, which are marked unproven unless the verdict is valid."""
    heading = "VALID" if report.verdict.ok else "INVALID"
    lines = [f"{'✓' if report.verdict.ok else '✗'} {heading}: {report.subject}"]
    if not report.verdict.ok or report.warnings:
        lines.append(f"  {report.verdict.reason}")
    lines.append("")
    width = max((len(check.name) for check in report.checks), default=0)
    for check in report.checks:
        mark = _MARKS.get((check.ok, check.level), "!")
        lines.append(f"  {mark} {check.name:<{width}}  {check.reason}")
    if report.facts:
        lines.append("")
        lines.append("  Attested:" if report.verdict.ok else "  Claimed (NOT verified):")
        width = max(len(label) for label, _ in report.facts)
        lines += [f"    {label:<{width}}  {value}" for label, value in report.facts]
    return "\n".join(lines) + "\n"
