"""Sending domains: DKIM keys the server generates per domain, and the DNS records to publish."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from email.utils import parseaddr

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.delivery.models import SendingDomain
from justmaily.server.delivery.transport.dkim import (
    DkimAlgorithm,
    DkimKey,
    DnsRecord,
    dns_record,
    generate_key,
)
from justmaily.server.http.problems import ApiError
from justmaily.server.keys.sealed import SecretBox
from justmaily.shared.problems import FieldError

# RFC 1035 2.3.1 / RFC 1123 2.1: letters, digits and inner hyphens, 1-63 octets a label.
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def checked_domain_name(text: str) -> str:
    """The lower-cased DNS name, or 422 saying what is wrong with it (before any key is made)."""
    name = text.strip().rstrip(".").lower()
    labels = name.split(".")
    problem = None
    if len(name) > 253:
        problem = "is longer than 253 characters"
    elif len(labels) < 2:
        problem = "needs at least two labels, such as acme.example"
    elif (bad := next((label for label in labels if not _LABEL.match(label)), None)) is not None:
        problem = (
            "has an empty label (two dots in a row)"
            if not bad
            else f"has the label {bad[:70]!r}: a label is 1-63 letters, digits or inner hyphens"
        )
    if problem:
        message = f"{text[:100]!r} is not a DNS name: it {problem}"
        raise ApiError(422, "invalid_domain", message, errors=[FieldError(field="domain", message=message)])
    return name


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
            private_key_pem=secrets.open(
                domain.rsa_key, what=f"DKIM key of {domain.domain} (RSA)", workspace_id=domain.workspace_id
            ),
        ),
        DkimKey(
            domain=domain.domain,
            selector=names[DkimAlgorithm.ED25519_SHA256],
            algorithm=DkimAlgorithm.ED25519_SHA256,
            private_key_pem=secrets.open(
                domain.ed25519_key,
                what=f"DKIM key of {domain.domain} (Ed25519)",
                workspace_id=domain.workspace_id,
            ),
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


class SendBlockedError(Exception):
    """A send cannot go on (no DKIM key for its domain, bad content): it is paused with this alert."""


def sending_domain_of(sender: str) -> str:
    """The domain a send's messages come from; SendBlockedError if its sender has no address."""
    domain = address_domain(sender)
    if domain is None:
        raise SendBlockedError(f"the sender {sender!r} has no address")
    return domain
