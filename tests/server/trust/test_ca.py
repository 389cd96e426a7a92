"""The internal CA: created once and shared, and what it issues verifies with the offline verifier."""

from __future__ import annotations

import shutil
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from justmaily.server.trust.ca import (
    CA_VALIDITY,
    CAMPAIGN_CERTIFICATE_VALIDITY,
    CertificateAuthority,
    CertificateAuthorityError,
    Revocation,
    pem,
)
from justmaily.shared.trust import CertificateStatus
from justmaily.shared.verify.certificates import (
    BINDING_OID,
    CAMPAIGN_ATTESTATION_OID,
    CLOCK_SKEW,
    CampaignBinding,
    ServiceIdentity,
    certificate_status,
    verify_campaign_certificate,
    verify_service_credential,
)

NAME = "JustMaily test CA"
BINDING = CampaignBinding(
    workspace_id=UUID("0c0ffee0-0000-4000-8000-000000000001"),
    campaign_id=UUID("0c0ffee0-0000-4000-8000-000000000002"),
    revision=2,
    content_hash="0123456789abcdef" * 4,
    approvers=[UUID("0c0ffee0-0000-4000-8000-000000000003")],
    approved_at=datetime(2026, 5, 1, 8, 0, tzinfo=UTC),
    log_index=17,
)


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ca")


@pytest.fixture(scope="module")
def ca(ca_dir: Path) -> CertificateAuthority:
    return CertificateAuthority.load_or_create(ca_dir, NAME)


def _now() -> datetime:
    return datetime.now(UTC)


# --- Creation and restart -------------------------------------------------------------------------------


def test_the_ca_is_a_p256_root_with_the_expected_profile(ca: CertificateAuthority, ca_dir: Path) -> None:
    certificate = ca.certificate
    key = certificate.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert certificate.subject == certificate.issuer
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == NAME
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert (constraints.value.ca, constraints.value.path_length) == (True, 0)
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert (usage.value.key_cert_sign, usage.value.crl_sign, usage.value.digital_signature) == (
        True,
        True,
        False,
    )
    identifier = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert identifier == x509.SubjectKeyIdentifier.from_public_key(key)
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime == CA_VALIDITY + CLOCK_SKEW
    certificate.verify_directly_issued_by(certificate)


def test_the_key_file_is_private(ca: CertificateAuthority, ca_dir: Path) -> None:
    assert stat.S_IMODE((ca_dir / "ca.key").stat().st_mode) == 0o600
    assert x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes()) == ca.certificate


def test_a_restart_reads_the_same_ca(ca: CertificateAuthority, ca_dir: Path) -> None:
    key_before = (ca_dir / "ca.key").read_bytes()
    again = CertificateAuthority.load_or_create(ca_dir, "another name is ignored")
    assert again.certificate_pem == ca.certificate_pem
    assert (ca_dir / "ca.key").read_bytes() == key_before
    issued_before = pem(ca.issue_campaign_certificate(BINDING))
    assert verify_campaign_certificate(issued_before, again.certificate_pem, at=_now())[0] == BINDING


def test_concurrent_creations_agree(tmp_path: Path) -> None:
    for round_number in range(4):
        data_dir = tmp_path / f"round-{round_number}"
        start = threading.Barrier(6)

        def create(data_dir: Path = data_dir, start: threading.Barrier = start) -> bytes:
            start.wait()
            return CertificateAuthority.load_or_create(data_dir, NAME).certificate_pem

        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(lambda _: create(), range(6)))
        assert set(results) == {(data_dir / "ca.pem").read_bytes()}
        assert sorted(p.name for p in data_dir.iterdir()) == ["ca.key", "ca.pem"]  # no temporary files left


def test_a_certificate_of_another_key_fails_loudly(ca_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    CertificateAuthority.load_or_create(other, NAME)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(ca_dir / "ca.key", mixed / "ca.key")
    shutil.copy(other / "ca.pem", mixed / "ca.pem")
    with pytest.raises(CertificateAuthorityError, match=r"ca\.pem does not belong to .*ca\.key"):
        CertificateAuthority.load_or_create(mixed, NAME)


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("ca.key", b"not a key", "is not an unencrypted PEM private key"),
        ("ca.pem", b"not a certificate", "is not a PEM certificate"),
    ],
)
def test_damaged_files_fail_loudly(
    ca_dir: Path, tmp_path: Path, file: str, content: bytes, message: str
) -> None:
    shutil.copytree(ca_dir, tmp_path / "copy")
    (tmp_path / "copy" / file).write_bytes(content)
    with pytest.raises(CertificateAuthorityError, match=message):
        CertificateAuthority.load_or_create(tmp_path / "copy", NAME)


# --- Campaign certificates ------------------------------------------------------------------------------


def test_a_campaign_certificate_binds_the_approval(ca: CertificateAuthority) -> None:
    now = _now()
    certificate = ca.issue_campaign_certificate(BINDING, now=now)
    binding, verdict = verify_campaign_certificate(pem(certificate), ca.certificate_pem, at=now)
    assert verdict.ok, verdict.reason
    assert binding == BINDING
    common_name = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert common_name == f"campaign {BINDING.campaign_id} r2"
    assert not certificate.extensions.get_extension_for_oid(BINDING_OID).critical
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [CAMPAIGN_ATTESTATION_OID]
    assert certificate.not_valid_after_utc - now.replace(microsecond=0) == CAMPAIGN_CERTIFICATE_VALIDITY
    assert now - certificate.not_valid_before_utc <= CLOCK_SKEW + timedelta(seconds=1)


def test_each_campaign_certificate_gets_its_own_throwaway_key(ca: CertificateAuthority) -> None:
    first, second = (ca.issue_campaign_certificate(BINDING) for _ in range(2))
    assert first.serial_number != second.serial_number
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert first.public_key().public_bytes(*der) != second.public_key().public_bytes(*der)
    assert ca.certificate.public_key().public_bytes(*der) not in {
        first.public_key().public_bytes(*der),
        second.public_key().public_bytes(*der),
    }


def test_a_campaign_certificate_never_outlives_the_ca(ca: CertificateAuthority) -> None:
    late = ca.certificate.not_valid_after_utc - timedelta(days=365)
    certificate = ca.issue_campaign_certificate(BINDING, now=late)
    assert certificate.not_valid_after_utc == ca.certificate.not_valid_after_utc
    with pytest.raises(CertificateAuthorityError, match="rotate the CA"):
        ca.issue_campaign_certificate(BINDING, now=ca.certificate.not_valid_after_utc + timedelta(days=1))


def test_an_invalid_binding_is_refused(ca: CertificateAuthority) -> None:
    bad = msgspec.structs.replace(BINDING, content_hash="not hex")
    with pytest.raises(ValueError, match="content_hash"):
        ca.issue_campaign_certificate(bad)
    nobody = msgspec.structs.replace(BINDING, approvers=[])
    with pytest.raises(ValueError, match="approvers"):
        ca.issue_campaign_certificate(nobody)


def test_a_campaign_certificate_expires_after_its_validity(ca: CertificateAuthority) -> None:
    now = _now()
    certificate = pem(ca.issue_campaign_certificate(BINDING, valid_for=timedelta(days=1), now=now))
    status, verdict = certificate_status(certificate, ca.certificate_pem, at=now + timedelta(days=2))
    assert status is CertificateStatus.EXPIRED
    assert "expired on" in verdict.reason


# --- Service credentials --------------------------------------------------------------------------------


def test_a_service_credential_authenticates_its_service(ca: CertificateAuthority) -> None:
    now = _now()
    certificate, key_pem = ca.issue_service_credential("replica-2", "server", now=now)
    identity, verdict = verify_service_credential(pem(certificate), ca.certificate_pem, at=now)
    assert (identity, verdict.ok) == (ServiceIdentity(name="replica-2", role="server"), True)
    key = serialization.load_pem_private_key(key_pem, password=None)
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(*der) == certificate.public_key().public_bytes(*der)
    assert list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert certificate.not_valid_after_utc - now.replace(microsecond=0) == timedelta(days=30)


def test_credentials_and_campaign_certificates_do_not_mix(ca: CertificateAuthority) -> None:
    now = _now()
    credential, _ = ca.issue_service_credential("agent-1", "agent", now=now)
    campaign = ca.issue_campaign_certificate(BINDING, now=now)
    assert not verify_campaign_certificate(pem(credential), ca.certificate_pem, at=now)[1].ok
    assert not verify_service_credential(pem(campaign), ca.certificate_pem, at=now)[1].ok


@pytest.mark.parametrize(
    ("name", "role"), [("", "server"), ("replica", ""), ("x" * 65, "server"), ("a\nb", "agent")]
)
def test_bad_service_names_are_refused(ca: CertificateAuthority, name: str, role: str) -> None:
    with pytest.raises(ValueError, match="printable characters"):
        ca.issue_service_credential(name, role)


def test_renewal_is_a_new_credential_for_the_same_identity(ca: CertificateAuthority) -> None:
    now = _now()
    old, old_key = ca.issue_service_credential("agent-2", "agent", now=now)
    later = now + timedelta(days=20)
    new, new_key = ca.renew(old, now=later)
    assert new.serial_number != old.serial_number
    assert new_key != old_key
    assert new.subject == old.subject
    assert new.not_valid_after_utc > old.not_valid_after_utc
    identity, verdict = verify_service_credential(pem(new), ca.certificate_pem, at=later + timedelta(days=15))
    assert (identity, verdict.ok) == (ServiceIdentity(name="agent-2", role="agent"), True)


def test_an_expired_foreign_or_campaign_certificate_is_not_renewed(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    now = _now()
    old, _ = ca.issue_service_credential("agent-3", "agent", now=now)
    with pytest.raises(CertificateAuthorityError, match=r"cannot renew .* expired on"):
        ca.renew(old, now=now + timedelta(days=31))
    foreign, _ = CertificateAuthority.load_or_create(tmp_path, NAME).issue_service_credential(
        "agent-3", "agent"
    )
    with pytest.raises(CertificateAuthorityError, match=r"cannot renew .* forged"):
        ca.renew(foreign)
    with pytest.raises(CertificateAuthorityError, match=r"cannot renew .* not for TLS client authentication"):
        ca.renew(ca.issue_campaign_certificate(BINDING))


# --- Revocation -----------------------------------------------------------------------------------------


def test_the_crl_revokes_with_reasons(ca: CertificateAuthority) -> None:
    now = _now()
    campaign = ca.issue_campaign_certificate(BINDING, now=now)
    credential, _ = ca.issue_service_credential("replica-3", "server", now=now)
    kept = ca.issue_campaign_certificate(BINDING, now=now)
    revoked_at = now.replace(microsecond=0) - timedelta(minutes=1)
    crl = ca.revocation_list(
        [
            Revocation(campaign.serial_number, revoked_at, "superseded"),
            (credential.serial_number, revoked_at, "key_compromise"),
        ],
        now=now,
    )
    assert crl.is_signature_valid(ca.certificate.public_key())  # type: ignore[arg-type]
    assert crl.next_update_utc == now.replace(microsecond=0) + timedelta(days=1)
    status, verdict = certificate_status(pem(campaign), ca.certificate_pem, at=now, crl_pem=pem(crl))
    assert status is CertificateStatus.REVOKED
    assert verdict.reason.endswith(f"revoked on {revoked_at.isoformat()} (superseded)")
    _, verdict = verify_service_credential(pem(credential), ca.certificate_pem, at=now, crl_pem=pem(crl))
    assert verdict.reason.endswith("(keyCompromise)")
    assert (
        certificate_status(pem(kept), ca.certificate_pem, at=now, crl_pem=pem(crl))[0]
        is CertificateStatus.VALID
    )
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == int(now.timestamp())


@pytest.mark.parametrize(
    ("reason", "flag"),
    [
        ("keyCompromise", x509.ReasonFlags.key_compromise),
        ("cessationOfOperation", x509.ReasonFlags.cessation_of_operation),
        ("cessation_of_operation", x509.ReasonFlags.cessation_of_operation),
        ("Superseded", x509.ReasonFlags.superseded),
        ("unspecified", None),
        ("removeFromCRL", None),
        ("the approver withdrew", None),
    ],
)
def test_reasons_map_to_crl_reason_codes(
    ca: CertificateAuthority, reason: str, flag: x509.ReasonFlags | None
) -> None:
    crl = ca.revocation_list([(12345, _now(), reason)])
    entry = crl.get_revoked_certificate_by_serial_number(12345)
    assert entry is not None
    reasons = [
        extension.value.reason
        for extension in entry.extensions
        if isinstance(extension.value, x509.CRLReason)
    ]
    assert reasons == ([] if flag is None else [flag])
