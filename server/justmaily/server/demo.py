"""The demo workspace the README's first command starts with: a few members and campaigns."""

from __future__ import annotations

import os
import secrets
import uuid
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.audiences import repository
from justmaily.server.audiences.models import ContactList
from justmaily.server.campaigns import lifecycle
from justmaily.server.campaigns.models import Campaign
from justmaily.server.collaboration.frozen import REVIEW
from justmaily.server.collaboration.models import DocumentSnapshot, DocumentVersion
from justmaily.server.db.engine import Database
from justmaily.server.delivery.domains import new_domain
from justmaily.server.identity.accounts import AccountService
from justmaily.server.keys.sealed import SecretBox
from justmaily.shared.audiences import ConsentStatus
from justmaily.shared.campaigns import CampaignStatus
from justmaily.shared.document import content_hash, initial_update, load_document
from justmaily.shared.roles import Role

DEMO_WORKSPACE = "demo"
DEMO_PASSWORD_FILE = "demo-password"  # noqa: S105 - the file that holds it, in the data folder
_CONTACTS = [
    ("ada@example.com", "Ada Lovelace", {"plan": "pro", "country": "GB"}),
    ("grace@example.com", "Grace Hopper", {"plan": "team", "country": "US"}),
    ("alan@example.org", "Alan Turing", {"plan": "free", "country": "GB"}),
    ("katherine@example.net", "Katherine Johnson", {"plan": "pro", "country": "US"}),
    ("emmy@example.de", "Emmy Noether", {"plan": "free", "country": "DE"}),
]
DEMO_USERS = {
    Role.OWNER: "owner@demo.example.com",
    Role.EDITOR: "editor@demo.example.com",
    Role.REVIEWER: "reviewer@demo.example.com",
    Role.VIEWER: "viewer@demo.example.com",
}
_SENDER = "Demo Shop <news@demo.example.com>"
_CAMPAIGNS = [
    (
        "Spring sale",
        "Spring is here: 20% off everything",
        "Three days only, in store and online",
        "# Spring is here\n\nEverything in the shop is **20% off** until Sunday.\n\n"
        "- New garden tools\n- Outdoor furniture\n- Seeds and bulbs\n\n[Shop the sale](https://demo.example.com/sale)\n",
        CampaignStatus.DRAFT,
    ),
    (
        "Product update: May",
        "What's new in May",
        "Faster checkout and a new app",
        "## What's new\n\nCheckout now takes two steps instead of five.\n",
        CampaignStatus.IN_REVIEW,
    ),
    (
        "Welcome series #1",
        "Welcome aboard!",
        "Here is how to get started",
        "# Welcome\n\nThanks for joining us. Here are three things to try first.\n",
        CampaignStatus.APPROVED,
    ),
]


def demo_password(data_dir: Path) -> str:
    """A random demo password, made once per data directory and kept there (mode 0600)."""
    path = data_dir / DEMO_PASSWORD_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(12))
    return path.read_text().strip()


async def seed_demo(database: Database, password: str, secrets_box: SecretBox) -> None:
    """Idempotent: accounts and memberships are ensured; sample campaigns only on first run."""
    async with database.session() as session, session.begin():
        accounts = AccountService(session)
        workspace = await accounts.ensure_workspace(DEMO_WORKSPACE, "Demo workspace")
        users = {}
        for role, email in DEMO_USERS.items():
            user, created = await accounts.ensure_user(email, password, role.value.title())
            if not created:
                await accounts.set_password(user, password)
            await accounts.set_membership(workspace, user, role)
            users[role] = user
        existing = await session.scalar(
            select(func.count()).select_from(Campaign).where(Campaign.workspace_id == workspace.id)
        )
        if not existing:
            for name, subject, preheader, body, status in _CAMPAIGNS:
                campaign = Campaign(
                    workspace_id=workspace.id,
                    name=name,
                    subject=subject,
                    preheader=preheader,
                    sender=_SENDER,
                    owner_id=users[Role.EDITOR].id,
                )
                session.add(campaign)
                await session.flush()
                # The content lives in the campaign's document: the row only mirrors it.
                values = {"subject": subject, "preheader": preheader, "sender": _SENDER, "body": body}
                update = initial_update(values)
                session.add(DocumentSnapshot(campaign_id=campaign.id, data=update))
                # As if sent to review (and approved) as it is, so it can be approved and sent.
                digest = content_hash(load_document([update]))
                lifecycle.seed(campaign, status, digest, approved_by=users[Role.REVIEWER].id)
                if status in (CampaignStatus.IN_REVIEW, CampaignStatus.APPROVED):
                    reviewed = DocumentVersion(
                        campaign_id=campaign.id,
                        name="Sent to review",
                        kind=REVIEW,
                        content_hash=digest,
                        data=update,
                        created_by=users[Role.EDITOR].id,
                    )
                    session.add(reviewed)
            await _seed_audience(session, workspace.id, secrets_box)


async def _seed_audience(session: AsyncSession, workspace_id: uuid.UUID, secrets_box: SecretBox) -> None:
    """The demo's sending domain (DKIM keys made here) and a small list of subscribers."""
    session.add(new_domain(workspace_id, "demo.example.com", secrets_box))
    subscribers = ContactList(workspace_id=workspace_id, name="Demo subscribers")
    session.add(subscribers)
    await session.flush()
    people = []
    for email, name, attributes in _CONTACTS:
        contact = await repository.add_contact(
            session,
            workspace_id,
            email=email,
            name=name,
            attributes=attributes,
            consent=ConsentStatus.SUBSCRIBED,
            consent_source="demo data",
        )
        people.append(contact.id)
    await repository.add_members(session, subscribers.id, people)
