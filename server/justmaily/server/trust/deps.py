"""Providers of the trust domain's services, from the app's (services.py) by name."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.trust.ca import CertificateAuthority
from justmaily.server.trust.log import LogSigner
from justmaily.server.trust.service import TransparencyService
from justmaily.server.trust.service_credentials import ServiceCredentialService


def provide_transparency(
    db_session: NamedDependency[AsyncSession],
    log_signer: NamedDependency[LogSigner],
    ca: NamedDependency[CertificateAuthority],
) -> TransparencyService:
    return TransparencyService(db_session, log_signer, ca)


def provide_credentials(
    db_session: NamedDependency[AsyncSession], ca: NamedDependency[CertificateAuthority]
) -> ServiceCredentialService:
    return ServiceCredentialService(db_session, ca)
