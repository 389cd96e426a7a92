"""Sending domains: DKIM keys the server generates per domain, and the DNS records to publish."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.utils import parseaddr

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.delivery.dkim import DkimAlgorithm, DkimKey, DnsRecord, dns_record, generate_key
from justmaily.server.delivery.models import SendingDomain
from justmaily.server.delivery.secrets import SecretBox


def selectors(domain: SendingDomain) -> dict[DkimAlgorithm, str]:
    # Two keys, two selectors: receivers that only know RSA ignore the Ed25519 signature (RFC 8463).
    return {
        DkimAlgorithm.RSA_SHA256: f"{domain.selector}r",
        DkimAlgorithm.ED25519_SHA256: f"{domain.selector}e",
    }


def new_domain(workspace_id: uuid.UUID, name: str, secrets: SecretBox) -> SendingDomain:
    selector = "jm" + datetime.now(UTC).strftime("%Y%m")
    rsa = generate_key(name, f"{selector}r", DkimAlgorithm.RSA_SHA256)
    ed25519 = generate_key(name, f"{selector}e", DkimAlgorithm.ED25519_SHA256)
    return SendingDomain(
        workspace_id=workspace_id,
        domain=name,
        selector=selector,
        rsa_key=secrets.seal(rsa.private_key_pem),
        ed25519_key=secrets.seal(ed25519.private_key_pem),
    )


def keys_of(domain: SendingDomain, secrets: SecretBox) -> list[DkimKey]:
    names = selectors(domain)
    return [
        DkimKey(
            domain=domain.domain,
            selector=names[DkimAlgorithm.RSA_SHA256],
            algorithm=DkimAlgorithm.RSA_SHA256,
            private_key_pem=secrets.open(domain.rsa_key),
        ),
        DkimKey(
            domain=domain.domain,
            selector=names[DkimAlgorithm.ED25519_SHA256],
            algorithm=DkimAlgorithm.ED25519_SHA256,
            private_key_pem=secrets.open(domain.ed25519_key),
        ),
    ]


def dns_records(domain: SendingDomain, secrets: SecretBox) -> list[DnsRecord]:
    return [dns_record(key) for key in keys_of(domain, secrets)]


def address_domain(sender: str) -> str | None:
    """The lower-cased domain of a From value such as `Acme <news@acme.example>`, or None."""
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2].lower() if "@" in address else None


async def find_domain(session: AsyncSession, workspace_id: uuid.UUID, name: str) -> SendingDomain | None:
    found: SendingDomain | None = await session.scalar(
        select(SendingDomain).where(SendingDomain.workspace_id == workspace_id, SendingDomain.domain == name)
    )
    return found


async def signing_keys(
    session: AsyncSession, secrets: SecretBox, workspace_id: uuid.UUID, name: str
) -> list[DkimKey]:
    domain = await find_domain(session, workspace_id, name)
    return [] if domain is None else keys_of(domain, secrets)
