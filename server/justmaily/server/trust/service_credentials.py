"""Service credentials: client certificates from the internal CA for replicas and agents.

Issued by a workspace admin for a role short of owner and admin (machines get least privilege),
valid up to 90 days; the private key is in the answer once and nowhere else. A service renews
its own credential before it expires (a new key and certificate; the old one stays valid until
its end, so the switch needs no gap), an admin revokes it at once. Issue, renewal and revocation
are logged. A service signs in with a short-lived token (`shared/service_tokens.py`) which
`authenticate` checks: the certificate against the CA, the credential against the database (not
revoked, its issuer still a member), the token's signature, audience and age.

Crash or restart: a credential is stored and logged in one transaction; if the answer with the
key is lost, nobody has the key — revoke it and issue another.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import datetime, timedelta

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.base import utcnow
from justmaily.server.http.problems import ApiError, not_found
from justmaily.server.identity.models import Membership, Workspace
from justmaily.server.identity.principal import Principal
from justmaily.server.trust import log as trust_log
from justmaily.server.trust.ca import CertificateAuthority, pem
from justmaily.server.trust.models import ServiceCredentialRow
from justmaily.server.trust.views import to_wire
from justmaily.shared import trust as wire
from justmaily.shared.problems import FieldError
from justmaily.shared.roles import Role, permissions_of
from justmaily.shared.trust import SERVICE_TOKEN_MAX_SECONDS, EntryKind
from justmaily.shared.verify.certificates import verify_service_credential

MACHINE_ROLES = frozenset({Role.EDITOR, Role.REVIEWER, Role.ANALYST, Role.VIEWER})
_REFUSED = "service token refused"


class ServiceCredentialService:
    def __init__(self, session: AsyncSession, ca: CertificateAuthority) -> None:
        self.session, self.ca = session, ca

    async def listing(self, principal: Principal) -> list[wire.ServiceCredential]:
        rows = await self.session.scalars(
            select(ServiceCredentialRow)
            .where(ServiceCredentialRow.workspace_id == principal.workspace_id)
            .order_by(ServiceCredentialRow.created_at.desc())
        )
        now = utcnow()
        return [to_wire(row, now) for row in rows]

    async def issue(
        self,
        principal: Principal,
        data: wire.ServiceCredentialCreate,
        *,
        renewed_from: uuid.UUID | None = None,
    ) -> wire.IssuedServiceCredential:
        if data.role not in MACHINE_ROLES:
            message = f"a service may be {', '.join(sorted(MACHINE_ROLES))}: not {data.role}"
            raise ApiError(
                422, "role_not_allowed", message, errors=[FieldError(field="role", message=message)]
            )
        # Nobody hands out more than they hold: an API key never issues (its scopes would not bind
        # the credential), a person only a role within their own permissions; a service renewing
        # itself keeps its role.
        if principal.kind == "api_key":
            raise ApiError(403, "forbidden", "service credentials are issued by people, not API keys")
        if principal.kind == "user" and not permissions_of(data.role) <= principal.permissions:
            raise ApiError(
                403, "forbidden", f"you cannot issue a credential with more than you hold ({data.role})"
            )
        certificate, key_pem = self.ca.issue_service_credential(
            data.name, data.role.value, valid_for=timedelta(days=data.valid_days)
        )
        row = ServiceCredentialRow(
            serial=format(certificate.serial_number, "x"),
            workspace_id=principal.workspace_id,
            name=data.name,
            role=data.role,
            issued_by=principal.user_id,
            renewed_from=renewed_from,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
        )
        self.session.add(row)
        await self.session.flush()
        entry = {
            "workspace_id": principal.workspace_id,
            "service": data.name,
            "role": data.role,
            "serial": row.serial,
            "sha256": hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest(),
            "not_after": row.not_after,
            "renewed_from": renewed_from,
            "purpose": "service",
        }
        record = trust_log.Record(EntryKind.CERTIFICATE_ISSUED, entry, workspace_id=principal.workspace_id)
        await trust_log.append(self.session, record)
        return wire.IssuedServiceCredential(
            credential=to_wire(row),
            certificate_pem=pem(certificate).decode("ascii"),
            private_key_pem=key_pem.decode(),
        )

    async def renew_own(self, principal: Principal) -> wire.IssuedServiceCredential:
        """A service, signed in with its credential, renews it."""
        if principal.kind != "service":
            raise ApiError(409, "not_a_service", "only a service signed in with its credential renews itself")
        return await self.renew(principal, principal.id)

    async def renew(self, principal: Principal, credential_id: uuid.UUID) -> wire.IssuedServiceCredential:
        """A new certificate and key for the same name and role. A service may renew only itself."""
        row = await self._credential(principal, credential_id)
        if principal.kind == "service" and principal.id != row.id:
            raise ApiError(403, "forbidden", "a service renews only its own credential")
        if row.revoked_at is not None or row.not_after <= utcnow():
            raise ApiError(
                409, "not_renewable", "a revoked or expired credential cannot be renewed: issue a new one"
            )
        successor = await self.session.scalar(
            select(ServiceCredentialRow.id).where(
                ServiceCredentialRow.renewed_from == row.id, ServiceCredentialRow.revoked_at.is_(None)
            )
        )
        if successor is not None:  # one live successor: a stolen key cannot breed credentials
            raise ApiError(409, "already_renewed", f"this credential was renewed already (as {successor})")
        days = max(1, round((row.not_after - row.not_before).total_seconds() / 86_400))
        data = wire.ServiceCredentialCreate(name=row.name, role=row.role, valid_days=min(days, 90))
        return await self.issue(principal, data, renewed_from=row.id)

    async def revoke(self, principal: Principal, credential_id: uuid.UUID) -> None:
        """Revoke the credential and every renewal made from it (whoever renewed it had its key)."""
        row = await self._credential(principal, credential_id)
        now, lineage, records = utcnow(), [row], []
        while lineage:
            current = lineage.pop()
            if current.revoked_at is None:
                current.revoked_at = now
                data = {
                    "workspace_id": current.workspace_id,
                    "serial": current.serial,
                    "reason": "cessationOfOperation",
                    "revoked_at": now,
                    "purpose": "service",
                }
                records.append(
                    trust_log.Record(EntryKind.CERTIFICATE_REVOKED, data, workspace_id=current.workspace_id)
                )
            lineage += await self.session.scalars(
                select(ServiceCredentialRow).where(ServiceCredentialRow.renewed_from == current.id)
            )
        await trust_log.append_many(self.session, records)

    async def _credential(self, principal: Principal, credential_id: uuid.UUID) -> ServiceCredentialRow:
        row = await self.session.get(ServiceCredentialRow, credential_id)
        if row is None or row.workspace_id != principal.workspace_id:
            raise not_found("service credential")
        return row


class ServiceTokens:
    """The authenticator of services (identity's middleware is handed it): a JWT carrying a
    certificate of our CA (x5c), for this server (`audience`: its public URL)."""

    def __init__(self, ca: CertificateAuthority, audience: str) -> None:
        self.ca, self.audience = ca, audience

    def accepts(self, credential: str) -> bool:
        return is_service_token(credential)

    async def principal(self, session: AsyncSession, credential: str) -> Principal:
        return await authenticate(session, self.ca, credential, self.audience)


def is_service_token(token: str) -> bool:
    try:
        return "x5c" in jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return False


async def authenticate(
    session: AsyncSession, ca: CertificateAuthority, token: str, audience: str, now: datetime | None = None
) -> Principal:
    """The principal a service token stands for; a 401 `invalid_service_token` otherwise."""
    moment = now or utcnow()
    try:
        chain = jwt.get_unverified_header(token).get("x5c")
        if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
            raise ValueError("no certificate")
        certificate_pem = pem(x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True)))
    except (jwt.PyJWTError, ValueError, TypeError, IndexError, KeyError):
        raise _refused("its x5c header holds no certificate") from None
    identity, verdict = verify_service_credential(certificate_pem, ca.certificate_pem, at=moment)
    if identity is None:
        raise _refused(verdict.reason)
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    try:
        claims = jwt.decode(
            token,
            certificate.public_key(),  # type: ignore[arg-type]
            algorithms=["ES256"],
            audience=audience,
            options={"require": ["exp", "iat", "aud"]},
            leeway=30,
        )
    except jwt.PyJWTError as exc:
        raise _refused(str(exc)) from None
    if int(claims["exp"]) - int(claims["iat"]) > SERVICE_TOKEN_MAX_SECONDS:
        raise _refused(f"it lives longer than {SERVICE_TOKEN_MAX_SECONDS} s")
    row = (
        await session.execute(
            select(ServiceCredentialRow, Workspace, Membership)
            .join(Workspace, Workspace.id == ServiceCredentialRow.workspace_id)
            .join(
                Membership,
                (Membership.user_id == ServiceCredentialRow.issued_by)
                & (Membership.workspace_id == ServiceCredentialRow.workspace_id),
            )
            .where(ServiceCredentialRow.serial == format(certificate.serial_number, "x"))
        )
    ).one_or_none()
    if row is None:
        raise _refused("no such credential, or whoever issued it left the workspace")
    credential_row, workspace, issuer = row
    if credential_row.revoked_at is not None:
        raise _refused("the credential was revoked")
    # A service never holds more than its role, nor more than whoever issued it holds today.
    return Principal(
        kind="service",
        id=credential_row.id,
        user_id=credential_row.issued_by,
        workspace_id=workspace.id,
        workspace_slug=workspace.slug,
        permissions=permissions_of(credential_row.role) & permissions_of(issuer.role),
        role=credential_row.role,
        display_name=credential_row.name,
    )


def _refused(reason: str) -> ApiError:
    return ApiError(
        401, "invalid_service_token", f"{_REFUSED}: {reason}", headers={"WWW-Authenticate": "Bearer"}
    )
