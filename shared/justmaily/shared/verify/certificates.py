"""Offline verification of the internal CA's certificates: campaign approvals and service credentials.

The server's certificate authority (``justmaily.server.trust.ca``) issues two kinds of X.509
certificates, both signed with ECDSA P-256 / SHA-256:

* a **campaign certificate** attests that a revision of a campaign was approved. Its
  ``CampaignBinding`` (workspace, campaign, revision, content hash, approvers, time and the trust
  log index of the approval) travels as canonical JSON in a non-critical extension, and its
  extended key usage is ``CAMPAIGN_ATTESTATION_OID``, so it can never pass as a TLS credential;
* a **service credential** authenticates a server replica or an agent process: subject CN is the
  service's name, OU its role, extended key usage clientAuth.

This module is what auditors, the ``justmaily verify`` command and the desktop run offline with
nothing but the CA certificate they pinned (and, to see revocations, a CRL). Like
``transparency.py`` it needs only the standard library, ``cryptography`` and msgspec, does no I/O,
and its verifiers never raise on bad input: they return a ``Verdict`` whose ``reason`` says what is
wrong, e.g. "expired on …" or "revoked on … (keyCompromise)".

Why both ``cryptography``'s path validator and explicit checks: the validator
(``cryptography.x509.verification``) implements RFC 5280 path validation with the CA/B Forum
web-PKI profile, which catches what hand-written checks forget (a leaf that claims to be a CA,
unknown critical extensions, a trust anchor that is not a CA, malformed key usages). Two of its
web-PKI rules do not fit an internal attestation CA and are relaxed through its extension policies:
a subjectAltName is optional (our identities live in the subject and in the binding, not in DNS
names), and a campaign certificate's extended key usage is the campaign attestation purpose rather
than clientAuth. Its errors are terse, though ("validation failed: …"), so the checks a user is most
likely to meet (wrong key type, forged signature, outside the validity period, revoked) run
explicitly first, each with its own reason; the validator then runs as the second, stricter line.
It does not look at CRLs, so revocation is checked here by hand.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar
from uuid import UUID

import msgspec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from justmaily.shared.trust import CertificateStatus
from justmaily.shared.verify.transparency import Verdict

__all__ = [
    "BINDING_OID",
    "CAMPAIGN_ATTESTATION_OID",
    "CLOCK_SKEW",
    "CampaignBinding",
    "ServiceIdentity",
    "campaign_common_name",
    "certificate_status",
    "decode_binding",
    "encode_binding",
    "verify_campaign_certificate",
    "verify_service_credential",
]

# X.667 makes every UUID an OID under 2.25 without registration; these two were generated once
# (uuid4) for JustMaily and must never change: every issued certificate carries them.
# 1228b116-3850-4776-abfb-ffb75b8b4a62: the extension holding a campaign's binding.
BINDING_OID = x509.ObjectIdentifier("2.25.24137387545417512569583571247381039714")
# 8bd6b8ab-d927-4439-9054-d451830ff35c: the extended key usage "attests a campaign approval".
CAMPAIGN_ATTESTATION_OID = x509.ObjectIdentifier("2.25.185877588520418338713676711058144752476")

# The CA backdates notBefore by this much, and a CRL may be this much "from the future", so that
# machines whose clocks run a little behind the server still accept what it just issued.
CLOCK_SKEW = timedelta(minutes=5)

_MAX_PEM_BYTES = 64 * 1024  # our certificates and CRLs are a few KB; anything larger is not ours
_MAX_NAME_CHARS = 200  # how much of a distinguished name a reason quotes


class CampaignBinding(msgspec.Struct, frozen=True, kw_only=True):
    """What a campaign certificate attests: this content of this campaign was approved by these people.

    ``content_hash`` is the hex SHA-256 of the approved content, ``log_index`` the index of the
    approval's entry in the trust log, so the certificate and the log corroborate each other.
    """

    workspace_id: UUID
    campaign_id: UUID
    revision: Annotated[int, msgspec.Meta(ge=0)]
    content_hash: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
    approvers: Annotated[list[UUID], msgspec.Meta(min_length=1)]
    approved_at: Annotated[datetime, msgspec.Meta(tz=True)]
    log_index: Annotated[int, msgspec.Meta(ge=0)]


class ServiceIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """Who a service credential names: the process (subject CN) and its role (subject OU)."""

    name: str
    role: str


def encode_binding(binding: CampaignBinding) -> bytes:
    """The canonical JSON of a binding (keys sorted): the exact bytes of the certificate extension."""
    return msgspec.json.encode(binding, order="sorted")


def decode_binding(data: bytes) -> CampaignBinding:
    """A binding from its JSON, its constraints checked; raises ``msgspec.MsgspecError`` (a ``ValueError``
    for validation) when the bytes are not a valid binding."""
    return msgspec.json.decode(data, type=CampaignBinding)


def campaign_common_name(campaign_id: UUID, revision: int) -> str:
    """The subject CN of a campaign certificate, e.g. ``campaign 0f…e1 r3``: readable in any X.509 tool."""
    return f"campaign {campaign_id} r{revision}"


# --- Rejections -----------------------------------------------------------------------------------------


class _RejectedError(Exception):
    """Raised inside a verifier, turned into ``Verdict(ok=False)`` at its boundary."""

    status: CertificateStatus | None = None


class _ExpiredError(_RejectedError):
    status = CertificateStatus.EXPIRED


class _RevokedError(_RejectedError):
    status = CertificateStatus.REVOKED


@contextlib.contextmanager
def _reading(what: str) -> Iterator[None]:
    """Turn whatever ``cryptography`` raises while parsing untrusted bytes into a rejection.

    Parsing is partly lazy (extensions and keys are decoded on first access) and its exceptions
    vary (ValueError, UnsupportedAlgorithm, DuplicateExtension, …): all of them mean "malformed".
    """
    try:
        yield
    except _RejectedError:
        raise
    except Exception as error:
        raise _RejectedError(f"malformed {what}: {error}") from None


_OID_NAMES = {
    oid: name
    for names in (SignatureAlgorithmOID, ExtendedKeyUsageOID)
    for name, oid in vars(names).items()
    if isinstance(oid, x509.ObjectIdentifier)
} | {CAMPAIGN_ATTESTATION_OID: "CAMPAIGN_ATTESTATION"}


def _oid_name(oid: x509.ObjectIdentifier) -> str:
    """A readable name for the signature algorithms and key purposes a reason may mention."""
    return _OID_NAMES.get(oid, oid.dotted_string)


def _short(name: x509.Name) -> str:
    text = name.rfc4514_string()
    return text if len(text) <= _MAX_NAME_CHARS else text[:_MAX_NAME_CHARS] + "…"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


# --- Inputs ---------------------------------------------------------------------------------------------


def _need_time(at: object) -> datetime:
    if not isinstance(at, datetime):
        raise _RejectedError(f"the time to verify at must be a datetime, not {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise _RejectedError("the time to verify at must be timezone-aware")
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise _RejectedError(
            f"the time to verify at ({at.isoformat()}) is outside the years 1 to 9999 in UTC"
        ) from None


def _pem_bytes(what: str, pem: object) -> bytes:
    if isinstance(pem, str):
        if not pem.isascii():
            raise _RejectedError(f"{what} is not PEM: it contains non-ASCII characters")
        pem = pem.encode("ascii")
    if not isinstance(pem, bytes):
        raise _RejectedError(f"{what} must be PEM text or bytes, not {type(pem).__name__}")
    if len(pem) > _MAX_PEM_BYTES:
        raise _RejectedError(f"{what} is {len(pem)} bytes, more than {_MAX_PEM_BYTES}: not one of ours")
    if b"-----BEGIN " not in pem:
        raise _RejectedError(f"{what} is not PEM: no '-----BEGIN' line")
    return pem


def _load_certificate(what: str, pem: object) -> x509.Certificate:
    data = _pem_bytes(what, pem)
    with _reading(what):
        return x509.load_pem_x509_certificate(data)


def _load_crl(pem: object) -> x509.CertificateRevocationList:
    data = _pem_bytes("CRL", pem)
    with _reading("CRL"):
        return x509.load_pem_x509_crl(data)


def _key_kind(key: object) -> str:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "an Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "an Ed448"
    if isinstance(key, rsa.RSAPublicKey):
        return f"an RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"an elliptic-curve {key.curve.name}"
    return f"a {type(key).__name__}"


def _need_p256(what: str, certificate: x509.Certificate) -> ec.EllipticCurvePublicKey:
    """The certificate's key, which must be ECDSA P-256 (cryptography's path validator rejects Ed25519)."""
    with _reading(f"{what} public key"):
        key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise _RejectedError(f"{what} has {_key_kind(key)} key; only ECDSA P-256 is accepted")
    return key


def _need_ecdsa_sha256(what: str, signed: x509.Certificate | x509.CertificateRevocationList) -> None:
    with _reading(what):
        algorithm = signed.signature_algorithm_oid
    if algorithm != SignatureAlgorithmOID.ECDSA_WITH_SHA256:
        raise _RejectedError(
            f"{what} is signed with {_oid_name(algorithm)}; only ECDSA_WITH_SHA256 is accepted"
        )


# --- Certificate checks -----------------------------------------------------------------------------------


def _load_ca(ca_pem: object, at: datetime) -> x509.Certificate:
    ca = _load_certificate("CA certificate", ca_pem)
    _need_p256("the CA certificate", ca)
    _need_ecdsa_sha256("the CA certificate", ca)
    _check_period("the CA certificate", ca, at, expired=_RejectedError)
    try:
        ca.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):
        raise _RejectedError(
            "the CA certificate is not self-signed by its key (damaged or not a root)"
        ) from None
    return ca


def _check_issued_by(what: str, certificate: x509.Certificate, ca: x509.Certificate) -> None:
    """Signed by the pinned CA: same issuer name, and the signature verifies with its key."""
    _need_ecdsa_sha256(what, certificate)
    with _reading(what):
        same_issuer = certificate.issuer == ca.subject
        issuer, subject = _short(certificate.issuer), _short(ca.subject)
    if not same_issuer:
        raise _RejectedError(f"{what} was issued by {issuer!r}, not by the CA {subject!r}")
    try:
        certificate.verify_directly_issued_by(ca)
    except InvalidSignature:
        raise _RejectedError(
            f"{what} is forged: its signature does not verify with the key of the CA {subject!r}"
        ) from None
    except (ValueError, TypeError) as error:
        raise _RejectedError(f"{what} is not verifiable by the CA: {error}") from None


def _check_period(
    what: str, certificate: x509.Certificate, at: datetime, *, expired: type[_RejectedError]
) -> None:
    with _reading(what):
        not_before, not_after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if at < not_before:
        raise _RejectedError(f"{what} is not valid before {_when(not_before)} (checked at {_when(at)})")
    if at > not_after:  # RFC 5280: notAfter itself is still inside the validity period
        raise expired(f"{what} expired on {_when(not_after)} (checked at {_when(at)})")


def _extension(
    what: str, certificate: x509.Certificate, oid: x509.ObjectIdentifier
) -> x509.Extension[x509.ExtensionType] | None:
    with _reading(f"{what} extensions"):
        try:
            return certificate.extensions.get_extension_for_oid(oid)
        except x509.ExtensionNotFound:
            return None


def _key_purposes(what: str, certificate: x509.Certificate) -> list[x509.ObjectIdentifier]:
    extension = _extension(what, certificate, x509.OID_EXTENDED_KEY_USAGE)
    if extension is None or not isinstance(extension.value, x509.ExtendedKeyUsage):
        return []
    return list(extension.value)


def _need_purpose(
    what: str, certificate: x509.Certificate, purpose: x509.ObjectIdentifier, label: str
) -> None:
    purposes = _key_purposes(what, certificate)
    if purpose not in purposes:
        found = ", ".join(_oid_name(p) for p in purposes) or "none"
        raise _RejectedError(f"{what} is not for {label}: its extended key usage is {found}")


def _purpose_validator(
    purpose: x509.ObjectIdentifier,
) -> Callable[[Policy, x509.Certificate, x509.ExtendedKeyUsage], None]:
    def validate(_policy: Policy, _certificate: x509.Certificate, usage: x509.ExtendedKeyUsage) -> None:
        if purpose not in usage:
            raise ValueError(f"extended key usage lacks {purpose.dotted_string}")

    return validate


def _leaf_policy(purpose: x509.ObjectIdentifier) -> ExtensionPolicy:
    """The web-PKI end-entity policy with a subjectAltName optional and ``purpose`` required."""
    return (
        ExtensionPolicy.webpki_defaults_ee()
        .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
        .require_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _purpose_validator(purpose))
    )


def _check_profile(
    what: str,
    certificate: x509.Certificate,
    ca: x509.Certificate,
    at: datetime,
    purpose: x509.ObjectIdentifier,
) -> None:
    """RFC 5280 path validation by ``cryptography``, with the pinned CA as the only trust anchor."""
    builder = (
        PolicyBuilder()
        .store(Store([ca]))
        .time(at)
        .max_chain_depth(1)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_leaf_policy(purpose))
    )
    try:
        builder.build_client_verifier().verify(certificate, [])
    except VerificationError as error:
        detail = str(error).split(" (encountered processing", 1)[0]
        raise _RejectedError(f"{what} does not fit the certificate profile: {detail}") from None


def _check_certificate(
    what: str,
    certificate: x509.Certificate,
    ca: x509.Certificate,
    at: datetime,
    purpose: x509.ObjectIdentifier,
    label: str,
) -> None:
    _check_issued_by(what, certificate, ca)
    if certificate.serial_number <= 0:  # RFC 5280 §4.1.2.2; cryptography only warns when parsing
        raise _RejectedError(f"{what} has a serial number that is not positive")
    _need_p256(what, certificate)
    _check_period(what, certificate, at, expired=_ExpiredError)
    _need_purpose(what, certificate, purpose, label)
    _check_profile(what, certificate, ca, at, purpose)


# --- Revocation -----------------------------------------------------------------------------------------


def _check_crl(crl: x509.CertificateRevocationList, ca: x509.Certificate, at: datetime) -> None:
    """The CRL is the CA's (issuer and signature), current at ``at`` and has no unknown critical extension."""
    _need_ecdsa_sha256("the CRL", crl)
    with _reading("CRL"):
        same_issuer = crl.issuer == ca.subject
        issuer = _short(crl.issuer)
        signed = crl.is_signature_valid(_need_p256("the CA certificate", ca))
        last_update, next_update = crl.last_update_utc, crl.next_update_utc
        unknown_critical = [
            e.oid.dotted_string
            for e in crl.extensions
            if e.critical and isinstance(e.value, x509.UnrecognizedExtension)
        ]
    if not same_issuer:
        raise _RejectedError(f"the CRL was issued by {issuer!r}, not by the CA {_short(ca.subject)!r}")
    if not signed:
        raise _RejectedError("the CRL is forged: its signature does not verify with the CA's key")
    if unknown_critical:
        raise _RejectedError(f"the CRL has unknown critical extensions: {', '.join(unknown_critical)}")
    if at + CLOCK_SKEW < last_update:
        raise _RejectedError(
            f"the CRL was issued on {_when(last_update)}, after the time checked ({_when(at)})"
        )
    if next_update is None:
        raise _RejectedError("the CRL has no next-update time, so nobody can tell whether it is current")
    if at > next_update:
        raise _RejectedError(f"the CRL is stale: its next update was due on {_when(next_update)}")


def _revocation_reason(entry: x509.RevokedCertificate) -> str:
    with _reading("CRL entry"):
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            return "reason unspecified"
    return reason.value


def _check_not_revoked(
    what: str, certificate: x509.Certificate, ca: x509.Certificate, crl_pem: object, at: datetime
) -> None:
    crl = _load_crl(crl_pem)
    _check_crl(crl, ca, at)
    with _reading("CRL"):
        entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
        revoked_at = entry.revocation_date_utc if entry is not None else None
    if entry is None or revoked_at is None:
        return
    raise _RevokedError(f"{what} was revoked on {_when(revoked_at)} ({_revocation_reason(entry)})")


# --- The bindings inside ----------------------------------------------------------------------------------


def _binding(certificate: x509.Certificate) -> CampaignBinding:
    what = "the campaign certificate"
    extension = _extension(what, certificate, BINDING_OID)
    if extension is None or not isinstance(extension.value, x509.UnrecognizedExtension):
        raise _RejectedError(f"{what} has no campaign binding (extension {BINDING_OID.dotted_string})")
    value = extension.value.value
    try:
        binding = decode_binding(value)
    except msgspec.MsgspecError as error:
        raise _RejectedError(f"{what} has a malformed campaign binding: {error}") from None
    if encode_binding(binding) != value:
        raise _RejectedError(f"{what}'s campaign binding is not in canonical form (sorted keys, no spaces)")
    expected = campaign_common_name(binding.campaign_id, binding.revision)
    names = _attribute(what, certificate, NameOID.COMMON_NAME, "CN")
    if names != expected:
        raise _RejectedError(f"{what}'s subject CN {names!r} does not match its binding ({expected!r})")
    return binding


def _attribute(what: str, certificate: x509.Certificate, oid: x509.ObjectIdentifier, label: str) -> str:
    """The one value of a subject attribute, which must be present exactly once and be text."""
    with _reading(f"{what} subject"):
        values = [attribute.value for attribute in certificate.subject.get_attributes_for_oid(oid)]
    if len(values) != 1 or not isinstance(values[0], str) or not values[0]:
        raise _RejectedError(
            f"{what}'s subject must have exactly one non-empty {label}, it has {len(values)}"
        )
    return values[0]


def _service_identity(certificate: x509.Certificate) -> ServiceIdentity:
    what = "the service credential"
    usage = _extension(what, certificate, x509.OID_KEY_USAGE)
    if usage is None or not isinstance(usage.value, x509.KeyUsage) or not usage.value.digital_signature:
        raise _RejectedError(f"{what}'s key usage does not allow digital signatures (TLS client auth)")
    if _extension(what, certificate, BINDING_OID) is not None:
        raise _RejectedError(f"{what} carries a campaign binding: it is a campaign certificate")
    return ServiceIdentity(
        name=_attribute(what, certificate, NameOID.COMMON_NAME, "CN"),
        role=_attribute(what, certificate, NameOID.ORGANIZATIONAL_UNIT_NAME, "OU (the role)"),
    )


# --- The verifiers --------------------------------------------------------------------------------------

_T = TypeVar("_T")


def _verdict(check: Callable[[], _T]) -> tuple[_T | None, Verdict, CertificateStatus | None]:
    """Run a check at a verifier's boundary: its result and a verdict, or ``None`` and why not."""
    try:
        result = check()
    except _RejectedError as rejected:
        return None, Verdict(ok=False, reason=str(rejected)), rejected.status
    return result, Verdict(ok=True, reason="valid"), CertificateStatus.VALID


def _unchecked(verdict: Verdict, crl_pem: object) -> Verdict:
    if verdict.ok and crl_pem is None:
        return Verdict(ok=True, reason="valid; revocation not checked (no CRL given)")
    return verdict


def _campaign(certificate_pem: object, ca_pem: object, at: object, crl_pem: object) -> CampaignBinding:
    what = "the campaign certificate"
    when = _need_time(at)
    ca = _load_ca(ca_pem, when)
    certificate = _load_certificate("campaign certificate", certificate_pem)
    _check_certificate(what, certificate, ca, when, CAMPAIGN_ATTESTATION_OID, "campaign attestation")
    binding = _binding(certificate)
    if crl_pem is not None:
        _check_not_revoked(what, certificate, ca, crl_pem, when)
    return binding


def _service(certificate_pem: object, ca_pem: object, at: object, crl_pem: object) -> ServiceIdentity:
    what = "the service credential"
    when = _need_time(at)
    ca = _load_ca(ca_pem, when)
    certificate = _load_certificate("service credential", certificate_pem)
    _check_certificate(
        what, certificate, ca, when, ExtendedKeyUsageOID.CLIENT_AUTH, "TLS client authentication"
    )
    identity = _service_identity(certificate)
    if crl_pem is not None:
        _check_not_revoked(what, certificate, ca, crl_pem, when)
    return identity


def verify_campaign_certificate(
    certificate_pem: bytes | str, ca_pem: bytes | str, *, at: datetime, crl_pem: bytes | str | None = None
) -> tuple[CampaignBinding | None, Verdict]:
    """The binding a campaign certificate attests, if the CA ``ca_pem`` vouches for it at ``at``.

    Rejected, with the reason: input that is not a PEM certificate, a CA or certificate whose key
    is not P-256 or whose signature is not ECDSA-SHA256, a certificate not signed by the CA (forged),
    outside its validity period ("expired on …", "not valid before …"), not for campaign attestation,
    without a canonical binding, or, when ``crl_pem`` is given, revoked ("revoked on … (reason)") or
    checked against a CRL that is not the CA's or not current. Without a CRL revocation is not
    checked, and the reason of a valid verdict says so.
    """
    binding, verdict, _ = _verdict(lambda: _campaign(certificate_pem, ca_pem, at, crl_pem))
    return binding, _unchecked(verdict, crl_pem)


def certificate_status(
    certificate_pem: bytes | str, ca_pem: bytes | str, *, at: datetime, crl_pem: bytes | str | None = None
) -> tuple[CertificateStatus | None, Verdict]:
    """A campaign certificate's ``CertificateStatus`` at ``at``: valid, revoked or expired.

    ``None`` when the certificate is none of these because it is not a genuine campaign certificate
    of this CA at all (forged, malformed, not yet valid, or the CRL is unusable); the verdict says why.
    An expired certificate reports expired even if it was also revoked: CRLs may drop expired entries.
    """
    _, verdict, status = _verdict(lambda: _campaign(certificate_pem, ca_pem, at, crl_pem))
    return status, _unchecked(verdict, crl_pem)


def verify_service_credential(
    cert_pem: bytes | str, ca_pem: bytes | str, *, at: datetime, crl_pem: bytes | str | None = None
) -> tuple[ServiceIdentity | None, Verdict]:
    """The service a credential names, if the CA ``ca_pem`` vouches for it at ``at``.

    The same checks as ``verify_campaign_certificate``, except that the extended key usage must
    include clientAuth, the key usage must allow digital signatures, and the subject must have one
    CN (the name) and one OU (the role). A campaign certificate is never a service credential.
    """
    identity, verdict, _ = _verdict(lambda: _service(cert_pem, ca_pem, at, crl_pem))
    return identity, _unchecked(verdict, crl_pem)
