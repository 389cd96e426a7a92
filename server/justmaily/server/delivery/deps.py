"""Providers of the delivery domain's services, from the app's (services.py) by name."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.campaigns.ports import CampaignDocument
from justmaily.server.db.engine import Database
from justmaily.server.delivery.sender import Sender
from justmaily.server.delivery.sends.gate import ContentGate
from justmaily.server.delivery.sends.proofs import MessageProofs
from justmaily.server.delivery.sends.service import SendService
from justmaily.server.delivery.sends.steering import SendSteering
from justmaily.server.delivery.setup import DeliverySetup
from justmaily.server.events import Events
from justmaily.server.identity.principal import AuthedRequest
from justmaily.server.keys.sealed import SecretBox
from justmaily.server.settings import Settings
from justmaily.server.trust.ca import CertificateAuthority
from justmaily.server.trust.log import LogSigner


def provide_setup(
    request: AuthedRequest,
    database: NamedDependency[Database],
    settings: NamedDependency[Settings],
    secrets: NamedDependency[SecretBox],
    sender: NamedDependency[Sender | None],
) -> DeliverySetup:
    return DeliverySetup(database, settings, secrets, sender, request.user.workspace_id)


def provide_sends(
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    secrets: NamedDependency[SecretBox],
    ca: NamedDependency[CertificateAuthority],
    events: NamedDependency[Events],
) -> SendService:
    return SendService(db_session, settings, secrets, ca, events)


def provide_steering(
    database: NamedDependency[Database],
    settings: NamedDependency[Settings],
    secrets: NamedDependency[SecretBox],
    ca: NamedDependency[CertificateAuthority],
    events: NamedDependency[Events],
    sender: NamedDependency[Sender | None],
    document: NamedDependency[CampaignDocument],
    content_gate: NamedDependency[ContentGate | None],
) -> SendSteering:
    return SendSteering(database, settings, secrets, ca, events, sender, document, content_gate)


def provide_proofs(
    db_session: NamedDependency[AsyncSession],
    log_signer: NamedDependency[LogSigner],
    ca: NamedDependency[CertificateAuthority],
) -> MessageProofs:
    return MessageProofs(db_session, log_signer, ca)
