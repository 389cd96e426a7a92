"""The internal certificate authority: campaign certificates, service credentials and their CRL.

One ECDSA P-256 key (``cryptography``'s X.509 path validator rejects Ed25519, and the desktop and
``justmaily verify`` validate our chains with it) and one self-signed CA certificate live in the
data folder as ``ca.key`` (mode 0600) and ``ca.pem``. They are created on the first start and read
on every later one, by every replica sharing the folder. Everything this CA issues verifies offline
with ``justmaily.shared.verify.certificates`` and nothing but ``ca.pem``.

This module only signs. Which certificates exist, which are revoked and why, lives in the trust
log and the database of the trust domain; ``revocation_list`` turns those records into a CRL.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from justmaily.server.keys.files import KeyFileError, p256_key, read_or_create
from justmaily.shared.verify.certificates import (
    BINDING_OID,
    CAMPAIGN_ATTESTATION_OID,
    CLOCK_SKEW,
    CampaignBinding,
    campaign_common_name,
    decode_binding,
    encode_binding,
    verify_service_credential,
)

__all__ = [
    "CAMPAIGN_CERTIFICATE_VALIDITY",
    "CA_VALIDITY",
    "CRL_LIFETIME",
    "SERVICE_CREDENTIAL_VALIDITY",
    "CertificateAuthority",
    "CertificateAuthorityError",
    "Revocation",
    "pem",
]

CA_VALIDITY = timedelta(days=3653)  # ten years; rotating the CA is a logged key rotation
# A campaign certificate attests something that already happened, so its expiry does not limit
# what it proves, only how long the CA vouches for it directly. Five years covers the periods in
# which complaints, audits and legal claims about a mailing typically arrive (limitation periods
# of three to six years); after that the trust log's inclusion proof for ``log_index`` remains the
# evidence. Shorter would make honest old certificates fail verification while still relevant;
# longer keeps every revocation on the CRL for longer and ties the CA key to the campaign for longer.
CAMPAIGN_CERTIFICATE_VALIDITY = timedelta(days=1826)
# Service credentials are live authentication: short-lived, so a leaked key stops working within
# weeks even if nobody revokes it; processes renew at about two thirds of the lifetime.
SERVICE_CREDENTIAL_VALIDITY = timedelta(days=30)
CRL_LIFETIME = timedelta(days=1)  # verifiers reject a CRL after its next update: publish daily

_MAX_LABEL_CHARS = 64  # X.520 upper bound for CN and OU


class CertificateAuthorityError(Exception):
    """The CA's files are inconsistent or it cannot issue what was asked; the message says which."""


class Revocation(NamedTuple):
    """A revoked certificate: its serial, when it was revoked and why (an RFC 5280 reason name)."""

    serial: int
    revoked_at: datetime
    reason: str


def pem(item: x509.Certificate | x509.CertificateRevocationList) -> bytes:
    """A certificate or CRL as PEM bytes."""
    return item.public_bytes(serialization.Encoding.PEM)


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _now(now: datetime | None) -> datetime:
    """The issuing time in whole seconds (X.509 times have no fractions)."""
    moment = datetime.now(UTC) if now is None else now.astimezone(UTC)
    return moment.replace(microsecond=0)


def _public_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _need_label(what: str, value: str) -> str:
    if not value or len(value) > _MAX_LABEL_CHARS or not value.isprintable():
        raise ValueError(f"a service {what} must be 1 to {_MAX_LABEL_CHARS} printable characters: {value!r}")
    return value


_CRL_REASONS = {
    **{flag.value.lower(): flag for flag in x509.ReasonFlags},
    **{flag.name: flag for flag in x509.ReasonFlags},
}


def _reason_flag(reason: str) -> x509.ReasonFlags | None:
    """The CRLReason for a reason name (``keyCompromise`` or ``key_compromise``), ``None`` for others.

    RFC 5280 §5.3.1: "unspecified" SHOULD be expressed by leaving the extension out, and
    removeFromCRL belongs only in delta CRLs; both, and any reason without a code, get no extension.
    """
    flag = _CRL_REASONS.get(reason.strip().lower())
    if flag in {None, x509.ReasonFlags.unspecified, x509.ReasonFlags.remove_from_crl}:
        return None
    return flag


def _key_usage(**allowed: bool) -> x509.KeyUsage:
    """A KeyUsage extension allowing only the named uses."""
    uses = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{use: allowed.get(use, False) for use in uses})


def _self_signed(key: ec.EllipticCurvePrivateKey, name: str, now: datetime) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    public = key.public_key()
    identifier = x509.SubjectKeyIdentifier.from_public_key(public)
    key_usage = _key_usage(key_cert_sign=True, crl_sign=True)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(identifier, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(identifier), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def _load_certificate(path: Path, data: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as error:
        raise CertificateAuthorityError(f"{path} is not a PEM certificate: {error}") from None


class CertificateAuthority:
    """The CA key and its self-signed certificate; issues certificates and CRLs signed by that key."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
        """A CA from a key and its certificate, which must carry that key and be a CA certificate."""
        public = certificate.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey) or _public_der(public) != _public_der(
            key.public_key()
        ):
            raise CertificateAuthorityError("the CA certificate does not carry the CA key")
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.ca:
            raise CertificateAuthorityError(
                "the CA certificate is not a CA certificate (BasicConstraints ca)"
            )
        self._key = key
        self._certificate = certificate
        self._identifier = x509.SubjectKeyIdentifier.from_public_key(key.public_key())

    @classmethod
    def load_or_create(cls, data_dir: Path, name: str) -> CertificateAuthority:
        """The CA in ``data_dir`` (``ca.key`` and ``ca.pem``), created there on first use.

        ``name`` is the CA certificate's CN; it is used only when the certificate is created, so
        an existing CA keeps its name. Two processes starting at once agree: the key file is
        created atomically and the first one wins, so both read the same key; each then builds a
        certificate for that key and the certificate file is created the same way, so both read the
        first one, which carries the key they share. A certificate that does not carry the key
        (files from different CAs) is an error, never silently replaced: that would invalidate
        every certificate issued so far.
        """
        key_path = data_dir / "ca.key"
        try:
            key = p256_key(key_path)
        except KeyFileError as error:
            raise CertificateAuthorityError(str(error)) from None
        return cls.for_key(key, data_dir / "ca.pem", name, key_path)

    @classmethod
    def for_key(
        cls, key: ec.EllipticCurvePrivateKey, certificate_path: Path, name: str, key_path: Path | None = None
    ) -> CertificateAuthority:
        """The CA of this key, with its certificate at `certificate_path` (made there on first use)."""
        data = read_or_create(certificate_path, lambda: pem(_self_signed(key, name, _now(None))))
        certificate = _load_certificate(certificate_path, data)
        try:
            return cls(key, certificate)
        except CertificateAuthorityError as error:
            raise CertificateAuthorityError(
                f"{certificate_path} does not belong to {key_path or 'the CA key'}: {error}. Restore the "
                "matching pair; deleting both creates a new CA, and nothing the old one issued verifies "
                "any more."
            ) from None

    @property
    def certificate(self) -> x509.Certificate:
        """The self-signed CA certificate: what verifiers pin."""
        return self._certificate

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the CA certificate (DER), hex: how the log records which CA was in use."""
        return self._certificate.fingerprint(hashes.SHA256()).hex()

    @property
    def certificate_pem(self) -> bytes:
        """The CA certificate as PEM, to publish and pin."""
        return pem(self._certificate)

    def _validity(self, valid_for: timedelta, now: datetime | None) -> tuple[datetime, datetime]:
        """notBefore backdated by the clock skew; notAfter never later than the CA's own."""
        issued = _now(now)
        not_before = issued - CLOCK_SKEW
        not_after = min(issued + valid_for, self._certificate.not_valid_after_utc)
        if not_after <= max(issued, self._certificate.not_valid_before_utc):
            expires = self._certificate.not_valid_after_utc.isoformat()
            raise CertificateAuthorityError(f"the CA certificate expires on {expires}: rotate the CA")
        return not_before, not_after

    def _leaf(
        self,
        subject: x509.Name,
        public: ec.EllipticCurvePublicKey,
        valid_for: timedelta,
        now: datetime | None,
    ) -> x509.CertificateBuilder:
        not_before, not_after = self._validity(valid_for, now)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._certificate.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self._identifier),
                critical=False,
            )
        )

    def issue_campaign_certificate(
        self,
        binding: CampaignBinding,
        *,
        valid_for: timedelta = CAMPAIGN_CERTIFICATE_VALIDITY,
        now: datetime | None = None,
    ) -> x509.Certificate:
        """A certificate attesting ``binding``, valid from now (less the clock skew) for ``valid_for``.

        The binding is checked against its constraints first (a ``ValueError`` names the field).
        X.509 needs a subject public key, but an attestation is never used to sign or to log in:
        the key is a fresh P-256 key whose private half is thrown away at once, so nobody, not
        even this server, can ever act as the certificate's subject. Its extended key usage is
        campaign attestation only, so no TLS stack accepts it as a credential either.
        """
        value = encode_binding(binding)
        decode_binding(value)  # the constraints (hex hash, approvers, time zone) hold only on decoding
        subject = x509.Name(
            [
                x509.NameAttribute(
                    NameOID.COMMON_NAME, campaign_common_name(binding.campaign_id, binding.revision)
                )
            ]
        )
        throwaway = _new_key().public_key()
        return (
            self._leaf(subject, throwaway, valid_for, now)
            .add_extension(x509.ExtendedKeyUsage([CAMPAIGN_ATTESTATION_OID]), critical=False)
            .add_extension(x509.UnrecognizedExtension(BINDING_OID, value), critical=False)
            .sign(self._key, hashes.SHA256())
        )

    def issue_service_credential(
        self,
        name: str,
        role: str,
        *,
        valid_for: timedelta = SERVICE_CREDENTIAL_VALIDITY,
        now: datetime | None = None,
    ) -> tuple[x509.Certificate, bytes]:
        """A TLS client certificate for the service ``name`` in ``role``, and its fresh private key (PEM).

        The subject is CN=name, OU=role; the key is used for TLS client authentication only
        (extended key usage clientAuth, key usage digitalSignature). The private key is returned
        once and never stored here: the caller hands it to the process and forgets it.
        """
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, _need_label("name", name)),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _need_label("role", role)),
            ]
        )
        key = _new_key()
        usage = _key_usage(digital_signature=True)
        certificate = (
            self._leaf(subject, key.public_key(), valid_for, now)
            .add_extension(usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        return certificate, _private_pem(key)

    def renew(
        self,
        credential: x509.Certificate,
        *,
        valid_for: timedelta = SERVICE_CREDENTIAL_VALIDITY,
        now: datetime | None = None,
    ) -> tuple[x509.Certificate, bytes]:
        """A new credential, with a new key, for the name and role of a credential still valid now.

        Renewal is re-issuance: a new serial, a new key pair and a new validity period for the same
        identity; nothing is extended in place. The old credential stays valid until it expires,
        so a process can switch over without a gap; revoke it (reason ``superseded``) to end it
        earlier. An expired credential or one this CA did not issue is refused
        (``CertificateAuthorityError``): that service needs a new credential from an operator.
        Revocation is the caller's to check, since the revocation records are not kept here.
        """
        moment = _now(now)
        identity, verdict = verify_service_credential(pem(credential), self.certificate_pem, at=moment)
        if identity is None:
            raise CertificateAuthorityError(f"cannot renew this credential: {verdict.reason}")
        return self.issue_service_credential(identity.name, identity.role, valid_for=valid_for, now=moment)

    def revocation_list(
        self,
        revoked: Iterable[tuple[int, datetime, str]],
        *,
        next_update: timedelta = CRL_LIFETIME,
        now: datetime | None = None,
    ) -> x509.CertificateRevocationList:
        """A CRL signed by the CA listing ``revoked`` as (serial, revoked at, reason) records.

        Reasons with an RFC 5280 code (keyCompromise, superseded, cessationOfOperation,
        affiliationChanged, …; snake_case works too) become a CRLReason entry extension; any other
        reason, and "unspecified", get none, as RFC 5280 asks. The CRL number is the issuing time
        in seconds, which increases from one CRL to the next as long as the replicas' clocks agree.
        """
        issued = _now(now)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self._certificate.subject)
            .last_update(issued)
            .next_update(issued + next_update)
            .add_extension(x509.CRLNumber(int(issued.timestamp())), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self._identifier),
                critical=False,
            )
        )
        for serial, revoked_at, reason in revoked:
            entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at)
            flag = _reason_flag(reason)
            if flag is not None:
                entry = entry.add_extension(x509.CRLReason(flag), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        return builder.sign(self._key, hashes.SHA256())
