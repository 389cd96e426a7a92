"""The offline audits: a genuine message, certificate and log entry verify; every attack is reported.

Everything is real and built here without a server: the internal CA issues the certificates and
CRLs, the log signer signs checkpoints, and the log and the send's batch are the RFC 9162
reference trees of ``transparency`` over leaves made as the server makes them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from justmaily.server.delivery.transport.dkim import DkimAlgorithm, DkimSigner, generate_key
from justmaily.server.trust.ca import CertificateAuthority, Revocation, pem
from justmaily.server.trust.log import LogSigner, leaf_bytes
from justmaily.shared.trust import (
    CERTIFICATE_HEADER,
    CampaignCertificate,
    CertificateStatus,
    EntryKind,
    InclusionProof,
    LogEntry,
    LogKey,
    MessageProof,
    TreeHead,
)
from justmaily.shared.verify import evidence
from justmaily.shared.verify.audit import (
    Level,
    Report,
    format_report,
    verify_certificate,
    verify_entry,
    verify_message,
)
from justmaily.shared.verify.certificates import CampaignBinding
from justmaily.shared.verify.transparency import inclusion_proof, root_hash

# The CA's certificate is valid from the real now (less five minutes): every time is after it.
APPROVED_AT = datetime.now(UTC).replace(microsecond=0)
SENT_AT = APPROVED_AT + timedelta(hours=1)
AUDITED_AT = APPROVED_AT + timedelta(hours=2)
ORIGIN = "justmaily.test/log"
WORKSPACE = UUID("6f1c2b3a-0000-4000-8000-000000000001")
CAMPAIGN = UUID("6f1c2b3a-0000-4000-8000-000000000002")
SEND = UUID("6f1c2b3a-0000-4000-8000-000000000005")
APPROVERS = [UUID("6f1c2b3a-0000-4000-8000-000000000003"), UUID("6f1c2b3a-0000-4000-8000-000000000004")]
CONTENT = "ab" * 32
APPROVAL_INDEX = 1
SEND_INDEX = 3
LOG_SIZE = 6


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


@dataclass(frozen=True)
class Keys:
    ca: CertificateAuthority
    other_ca: CertificateAuthority  # the same name, another key: what a forger would make
    signer: LogSigner
    other_signer: LogSigner  # the same origin, another key
    dkim: DkimSigner


def make_keys(root: Path) -> Keys:
    """Every key the audits need, with their files in ``root``."""
    (root / "other").mkdir()
    return Keys(
        ca=CertificateAuthority.load_or_create(root, "JustMaily test CA"),
        other_ca=CertificateAuthority.load_or_create(root / "other", "JustMaily test CA"),
        signer=LogSigner.from_file(root / "log.key", ORIGIN),
        other_signer=LogSigner.from_file(root / "other" / "log.key", ORIGIN),
        dkim=DkimSigner([generate_key("example.com", "s1", DkimAlgorithm.ED25519_SHA256)]),
    )


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


def binding(content_hash: str = CONTENT) -> CampaignBinding:
    return CampaignBinding(
        workspace_id=WORKSPACE,
        campaign_id=CAMPAIGN,
        revision=3,
        content_hash=content_hash,
        approvers=APPROVERS,
        approved_at=APPROVED_AT,
        log_index=APPROVAL_INDEX,
    )


def compose(message_id: str, body: str, serial: int, content_hash: str = CONTENT) -> bytes:
    header = (
        "From: News <news@example.com>\r\n"
        "To: reader@example.org\r\n"
        "Subject: Spring offers\r\n"
        f"Message-ID: {message_id}\r\n"
        f"{CERTIFICATE_HEADER}: serial={serial:x}; approval={APPROVAL_INDEX}; content-hash={content_hash}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
    )
    return f"{header}\r\n{body}".encode()


@dataclass(frozen=True)
class World:
    """A sent campaign: its messages, the send's log entry in a small log, and the bundles."""

    messages: list[bytes]  # as sent, in Message-ID order
    certificate: x509.Certificate
    bundles: list[MessageProof]
    log_key: str
    ca_pem: bytes


def build(
    keys: Keys,
    *,
    certificate: x509.Certificate | None = None,
    revoked: list[Revocation] | None = None,
    crl_at: datetime = AUDITED_AT,
    send_content: str = CONTENT,
    signed: bool = False,
) -> World:
    cert = certificate or keys.ca.issue_campaign_certificate(binding(), now=APPROVED_AT)
    serial = cert.serial_number
    messages = [
        compose(
            f"<m{i}.{SEND.hex}@example.com>", f"Hello reader {i},\r\n\r\nSpring  is here.\t\r\n\r\n", serial
        )
        for i in range(4)
    ]
    if signed:
        messages = [keys.dkim.sign(message) for message in messages]
    facts = [evidence.split_message(message) for message in messages]
    hashed = [(message_id, evidence.body_hash(body)) for message_id, body in facts]
    batch = [evidence.message_leaf(message_id, body_hash) for message_id, body_hash in hashed]
    send = {
        "workspace_id": WORKSPACE,
        "send_id": SEND,
        "campaign_id": CAMPAIGN,
        "content_hash": send_content,
        "certificate_serial": f"{serial:x}",
        "messages": len(batch),
        "batch_root": b64(root_hash(batch)),
        "finished_at": SENT_AT,
    }
    other = {"workspace_id": WORKSPACE, "note": "another entry"}
    kinds = [EntryKind.APPROVAL, EntryKind.APPROVAL, EntryKind.APPROVAL, EntryKind.SEND]
    records: list[tuple[EntryKind, dict[str, Any]]] = [(kind, other) for kind in kinds]
    records[SEND_INDEX] = (EntryKind.SEND, send)
    records += [(EntryKind.APPROVAL, other)] * (LOG_SIZE - len(records))
    leaves = [leaf_bytes(kind, data) for kind, data in records]
    tree_root = root_hash(leaves)
    entry = log_entry(SEND_INDEX, EntryKind.SEND, leaves[SEND_INDEX])
    crl = keys.ca.revocation_list(revoked or [], now=crl_at)
    bundles = [
        MessageProof(
            message_id=message_id,
            body_sha256=body_hash,
            batch_index=i,
            batch_size=len(batch),
            batch_hashes=[b64(h) for h in inclusion_proof(batch, i)],
            send_entry=entry,
            inclusion=InclusionProof(
                index=SEND_INDEX,
                tree_size=LOG_SIZE,
                hashes=[b64(h) for h in inclusion_proof(leaves, SEND_INDEX)],
            ),
            tree_head=TreeHead(
                size=LOG_SIZE,
                root_hash=b64(tree_root),
                checkpoint=keys.signer.sign(LOG_SIZE, tree_root),
                published_at=SENT_AT,
            ),
            certificate=certificate_view(cert),
            log_key=LogKey(origin=ORIGIN, verifier_key=keys.signer.verifier_key),
            ca_pem=keys.ca.certificate_pem.decode(),
            crl_pem=pem(crl).decode(),
        )
        for i, (message_id, body_hash) in enumerate(hashed)
    ]
    return World(messages, cert, bundles, keys.signer.verifier_key, keys.ca.certificate_pem)


def log_entry(index: int, kind: EntryKind, leaf: bytes) -> LogEntry:
    return LogEntry(
        index=index, kind=kind, leaf=b64(leaf), data=msgspec.json.decode(leaf), created_at=SENT_AT
    )


def certificate_view(cert: x509.Certificate) -> CampaignCertificate:
    return CampaignCertificate(
        serial=f"{cert.serial_number:x}",
        campaign_id=CAMPAIGN,
        revision=3,
        content_hash=CONTENT,
        approvers=APPROVERS,
        approved_at=APPROVED_AT,
        log_index=APPROVAL_INDEX,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        status=CertificateStatus.VALID,
        pem=pem(cert).decode(),
    )


@pytest.fixture(scope="module")
def world(keys: Keys) -> World:
    return build(keys)


def audit(
    world: World,
    raw: bytes | None = None,
    bundle: MessageProof | None = None,
    index: int = 0,
    at: datetime = AUDITED_AT,
) -> Report:
    return verify_message(
        world.messages[index] if raw is None else raw,
        world.bundles[index] if bundle is None else bundle,
        log_key=world.log_key,
        ca_pem=world.ca_pem,
        at=at,
    )


def failed(report: Report) -> str:
    """The verdict's reason, after checking that the report is invalid."""
    assert not report, format_report(report)
    return report.verdict.reason


def with_send_data(entry: LogEntry, **changes: Any) -> LogEntry:
    data = {**msgspec.json.decode(base64.b64decode(entry.leaf)), **changes}
    return log_entry(entry.index, entry.kind, msgspec.json.encode(data, order="sorted"))


# --- The genuine message -------------------------------------------------------------------------------


def test_a_genuine_message_verifies_with_every_check_passing(world: World) -> None:
    for index in range(len(world.messages)):
        report = audit(world, index=index)
        assert report, format_report(report)
        assert report.verdict.reason == "valid"
        assert all(check.ok for check in report.checks)
    facts = dict(report.facts)
    assert facts["content hash"] == CONTENT
    assert facts["approval entry"] == f"#{APPROVAL_INDEX}"
    assert facts["approvers"] == ", ".join(map(str, APPROVERS))


def test_a_copy_saved_with_lf_line_endings_and_extra_headers_verifies(world: World) -> None:
    saved = b"Received: from mx.example.org by inbox\r\n" + world.messages[0]
    assert audit(world, raw=saved.replace(b"\r\n", b"\n"))


def test_dkim_body_hashes_are_compared_with_the_body(keys: Keys) -> None:
    signed = build(keys, signed=True)
    report = audit(signed)
    assert report, format_report(report)
    assert (
        "bh= of 1 DKIM signature(s) (example.com)"
        in {c.name: c.reason for c in report.checks}["DKIM body hash"]
    )
    start = signed.messages[0].index(b"bh=") + 3
    forged = signed.messages[0][:start] + b"AAAA" + signed.messages[0][start + 4 :]
    assert failed(audit(signed, raw=forged)).startswith(
        "DKIM body hash: the DKIM signature of example.com signs another body"
    )


# --- Attacks on the message -----------------------------------------------------------------------------


def test_a_body_changed_by_one_character_is_reported(world: World) -> None:
    changed = world.messages[0].replace(b"Spring  is", b"Spring  iz")
    assert failed(audit(world, raw=changed)).startswith("body: the body was changed after it was sent")


def test_a_changed_message_id_is_reported(world: World) -> None:
    changed = world.messages[0].replace(b"<m0.", b"<m9.")
    assert failed(audit(world, raw=changed)).startswith("Message-ID: the saved message is m9.")


def test_a_message_without_its_certificate_header_is_reported(world: World) -> None:
    stripped = world.messages[0].replace(CERTIFICATE_HEADER.encode(), b"X-Removed")
    assert failed(audit(world, raw=stripped)).startswith(f"{CERTIFICATE_HEADER}: the message has no")


def test_a_swapped_serial_in_the_header_is_reported(keys: Keys, world: World) -> None:
    other = keys.ca.issue_campaign_certificate(binding(), now=APPROVED_AT)
    serial = f"serial={world.certificate.serial_number:x}".encode()
    swapped = world.messages[0].replace(serial, f"serial={other.serial_number:x}".encode())
    assert failed(audit(world, raw=swapped)).startswith(
        "serial and approval: the message header names certificate"
    )


def test_a_batch_proof_of_another_message_is_reported(world: World) -> None:
    theirs = world.bundles[1]
    bundle = replace(world.bundles[0], batch_index=theirs.batch_index, batch_hashes=theirs.batch_hashes)
    assert failed(audit(world, bundle=bundle)).startswith(
        "in the send's batch: the message is not in the send's batch"
    )
    wrong_size = replace(world.bundles[0], batch_size=2)
    assert "the send entry records 4" in failed(audit(world, bundle=wrong_size))


def test_an_edited_send_entry_is_not_in_the_log(world: World) -> None:
    edited = with_send_data(world.bundles[0].send_entry, content_hash="cd" * 32)
    reason = failed(audit(world, bundle=replace(world.bundles[0], send_entry=edited)))
    assert reason.startswith("in the log: the entry is not in the signed log: root mismatch")
    # data that says something else than the leaf the log proves
    shown = replace(world.bundles[0].send_entry, data={**edited.data})
    reason = failed(audit(world, bundle=replace(world.bundles[0], send_entry=shown)))
    assert reason.startswith("send entry: the entry's data differs from its leaf")


def test_an_inclusion_proof_for_the_wrong_tree_size_is_rejected(world: World) -> None:
    bundle = world.bundles[0]
    other_size = replace(bundle.inclusion, tree_size=LOG_SIZE - 1)
    reason = failed(audit(world, bundle=replace(bundle, inclusion=other_size)))
    assert reason.startswith("in the log: the inclusion proof is for a tree of 5 entries")
    assert "a proof for another tree size proves nothing" in reason


def test_a_tree_head_signed_by_another_key_is_rejected(keys: Keys, world: World) -> None:
    head = world.bundles[0].tree_head
    root = base64.b64decode(head.root_hash)
    forged = replace(head, checkpoint=keys.other_signer.sign(head.size, root))
    reason = failed(audit(world, bundle=replace(world.bundles[0], tree_head=forged)))
    assert reason.startswith("tree head: the tree head is not signed by the pinned log key: unknown key")
    # The forger names its own key in the bundle too: the pinned key still decides.
    claimed = LogKey(origin=ORIGIN, verifier_key=keys.other_signer.verifier_key)
    report = audit(world, bundle=replace(world.bundles[0], tree_head=forged, log_key=claimed))
    assert failed(report).startswith("log key: the bundle names the log key")
    assert not next(c for c in report.checks if c.name == "tree head").ok


def test_a_bundle_naming_another_ca_is_reported(keys: Keys, world: World) -> None:
    bundle = replace(world.bundles[0], ca_pem=keys.other_ca.certificate_pem.decode())
    assert failed(audit(world, bundle=bundle)).startswith("CA: the bundle names the CA")


def test_a_certificate_forged_by_another_ca_is_rejected(keys: Keys) -> None:
    forged = build(keys, certificate=keys.other_ca.issue_campaign_certificate(binding(), now=APPROVED_AT))
    report = audit(forged)
    assert "certificate at send: " in failed(report)
    assert "is forged" in failed(report)
    assert "campaign" not in dict(report.facts)  # nothing of a forged binding is shown as a fact


def test_a_certificate_expired_when_the_message_was_sent_is_rejected(keys: Keys) -> None:
    short = keys.ca.issue_campaign_certificate(binding(), valid_for=timedelta(minutes=30), now=APPROVED_AT)
    reason = failed(audit(build(keys, certificate=short)))
    assert reason.startswith("certificate at send: when the message was sent")
    assert "expired on" in reason


def test_a_certificate_revoked_before_the_send_is_rejected(keys: Keys) -> None:
    cert = keys.ca.issue_campaign_certificate(binding(), now=APPROVED_AT)
    revoked = [Revocation(cert.serial_number, SENT_AT - timedelta(minutes=30), "keyCompromise")]
    reason = failed(audit(build(keys, certificate=cert, revoked=revoked)))
    assert reason.startswith("not revoked at send: the certificate was revoked on")
    assert "(keyCompromise), before" in reason


def test_a_certificate_revoked_after_the_send_is_a_warning(keys: Keys) -> None:
    cert = keys.ca.issue_campaign_certificate(binding(), now=APPROVED_AT)
    revoked = [Revocation(cert.serial_number, SENT_AT + timedelta(minutes=30), "superseded")]
    report = audit(build(keys, certificate=cert, revoked=revoked))
    assert report, format_report(report)
    assert [c.name for c in report.warnings] == ["certificate now"]
    assert report.warnings[0].level is Level.ADVISORY
    assert report.verdict.reason.startswith("valid, with a warning: certificate now: revoked after the send")
    assert "! certificate now" in format_report(report)


def test_a_crl_stale_now_only_leaves_the_status_now_unknown(keys: Keys) -> None:
    earlier = build(keys, crl_at=SENT_AT - timedelta(minutes=10))
    assert audit(earlier).verdict.reason == "valid"  # a CRL current at the send, and still now
    report = audit(earlier, at=SENT_AT + timedelta(days=2))
    assert report, format_report(report)
    assert report.verdict.reason.startswith("valid, with a warning: certificate now: unknown at")
    assert "the CRL is stale" in report.verdict.reason


def test_a_crl_stale_when_the_message_was_sent_is_rejected(keys: Keys) -> None:
    stale = build(keys, crl_at=APPROVED_AT - timedelta(days=2))
    assert failed(audit(stale)).startswith("not revoked at send: the CRL is stale at")


def test_content_approved_differently_than_sent_is_reported(keys: Keys) -> None:
    reason = failed(audit(build(keys, send_content="cd" * 32)))
    assert reason.startswith("approved content: the send entry records content cdcd")


def test_a_send_entry_of_another_kind_is_reported(world: World) -> None:
    leaf = base64.b64decode(world.bundles[0].send_entry.leaf)
    data = {**msgspec.json.decode(leaf), "kind": "approval"}
    approval = log_entry(SEND_INDEX, EntryKind.APPROVAL, msgspec.json.encode(data, order="sorted"))
    reason = failed(audit(world, bundle=replace(world.bundles[0], send_entry=approval)))
    assert reason.startswith("send entry: entry #3 is of kind 'approval', not 'send'")


# --- Garbage never raises ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(max_size=400))
def test_random_bytes_as_the_message_fail_without_raising(world: World, raw: bytes) -> None:
    assert not audit(world, raw=raw)


def test_a_garbage_bundle_fails_every_check_it_touches_without_raising(world: World) -> None:
    bundle = world.bundles[0]
    garbage = replace(
        bundle,
        batch_index=-1,
        batch_hashes=["!!", "AAAA"],
        send_entry=replace(bundle.send_entry, leaf="not base64"),
        inclusion=InclusionProof(index=-5, tree_size=2**70, hashes=["%%"]),
        tree_head=replace(bundle.tree_head, checkpoint="junk"),
        certificate=replace(bundle.certificate, pem="junk", serial="zz"),
        log_key=LogKey(origin="", verifier_key="x"),
        ca_pem="junk",
        crl_pem="junk",
    )
    report = verify_message(b"\x00\xff", garbage, log_key="not a key", ca_pem=b"junk", at=AUDITED_AT)
    assert not report
    assert not any(check.ok for check in report.checks if check.name != "DKIM body hash")
    assert format_report(report)
    unaware = audit(world, at=AUDITED_AT.replace(tzinfo=None))
    assert unaware.warnings  # a naive audit time only leaves the status now unknown


# --- Certificates -----------------------------------------------------------------------------------------


def test_a_genuine_certificate_verifies_with_its_binding(keys: Keys, world: World) -> None:
    crl = keys.ca.revocation_list([], now=AUDITED_AT)
    report = verify_certificate(pem(world.certificate), ca_pem=world.ca_pem, crl_pem=pem(crl), at=AUDITED_AT)
    assert report, format_report(report)
    assert report.verdict.reason == "valid"
    assert dict(report.facts)["campaign"] == f"{CAMPAIGN} (revision 3)"
    without_crl = verify_certificate(pem(world.certificate), ca_pem=world.ca_pem, at=AUDITED_AT)
    assert without_crl
    assert without_crl.verdict.reason.startswith(
        "valid, with a warning: not revoked: not checked: no CRL given"
    )


def test_forged_expired_and_revoked_certificates_are_rejected(keys: Keys, world: World) -> None:
    forged = keys.other_ca.issue_campaign_certificate(binding(), now=APPROVED_AT)
    assert "is forged" in failed(verify_certificate(pem(forged), ca_pem=world.ca_pem, at=AUDITED_AT))
    expired = keys.ca.issue_campaign_certificate(binding(), valid_for=timedelta(minutes=30), now=APPROVED_AT)
    report = verify_certificate(pem(expired), ca_pem=world.ca_pem, at=AUDITED_AT)
    assert failed(report).startswith("valid: the campaign certificate expired on")
    assert report.checks[0].ok  # genuine, only expired
    revoked = [Revocation(world.certificate.serial_number, SENT_AT, "affiliationChanged")]
    crl = keys.ca.revocation_list(revoked, now=AUDITED_AT)
    reason = failed(
        verify_certificate(pem(world.certificate), ca_pem=world.ca_pem, crl_pem=pem(crl), at=AUDITED_AT)
    )
    assert reason.startswith("not revoked: the certificate was revoked on")
    other_crl = keys.other_ca.revocation_list([], now=AUDITED_AT)
    reason = failed(
        verify_certificate(pem(world.certificate), ca_pem=world.ca_pem, crl_pem=pem(other_crl), at=AUDITED_AT)
    )
    assert reason.startswith("not revoked: the CRL is forged")


@pytest.mark.parametrize(
    "junk", [b"", b"junk", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]
)
def test_junk_certificates_fail_without_raising(world: World, junk: bytes | str) -> None:
    assert not verify_certificate(junk, ca_pem=world.ca_pem, crl_pem=junk, at=AUDITED_AT)
    assert not verify_certificate(pem(world.certificate), ca_pem=junk, at=AUDITED_AT)


# --- Log entries ------------------------------------------------------------------------------------------


def entry_parts(world: World) -> tuple[LogEntry, InclusionProof, str]:
    bundle = world.bundles[0]
    return bundle.send_entry, bundle.inclusion, bundle.tree_head.checkpoint


def test_a_genuine_entry_verifies_and_shows_its_leaf(world: World) -> None:
    entry, inclusion, checkpoint = entry_parts(world)
    report = verify_entry(entry, inclusion, checkpoint, log_key=world.log_key)
    assert report, format_report(report)
    facts = dict(report.facts)
    assert facts["kind"] == "send"
    assert facts["content_hash"] == CONTENT


def test_entry_attacks_are_reported(keys: Keys, world: World) -> None:
    entry, inclusion, checkpoint = entry_parts(world)
    edited = with_send_data(entry, messages=5)
    assert "root mismatch" in failed(verify_entry(edited, inclusion, checkpoint, log_key=world.log_key))
    smaller = replace(inclusion, tree_size=LOG_SIZE - 1)
    assert "proof for another tree size" in failed(
        verify_entry(entry, smaller, checkpoint, log_key=world.log_key)
    )
    other = keys.other_signer.verifier_key
    assert "unknown key" in failed(verify_entry(entry, inclusion, checkpoint, log_key=other))
    assert not verify_entry(replace(entry, leaf="@@"), inclusion, "junk", log_key="junk")


# --- The readable report ----------------------------------------------------------------------------------


def test_the_report_reads_as_aligned_checks_and_facts(world: World) -> None:
    text = format_report(audit(world))
    assert text.startswith(f"✓ VALID: message {world.bundles[0].message_id}\n")
    lines = text.splitlines()
    report = audit(world)
    rows = [line for line in lines if line.startswith("  ✓ ")]
    assert len(rows) == len(report.checks)
    # every reason starts in the same column
    assert len({row.index(check.reason) for row, check in zip(rows, report.checks, strict=True)}) == 1
    assert "  Attested:" in lines
    assert any(line.strip().startswith("approvers") for line in lines)
    bad = format_report(audit(world, raw=world.messages[0].replace(b"reader 0", b"reader 9")))
    assert bad.startswith("✗ INVALID")
    assert "  ✗ body" in bad
    assert "Claimed (NOT verified):" in bad


def test_a_report_round_trips_as_json(world: World, tmp_path: Path) -> None:
    report = audit(world)
    assert msgspec.json.decode(msgspec.json.encode(report), type=Report) == report
