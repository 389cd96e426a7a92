"""Scoped API keys for headless use. The secret is shown once; only its hash is stored."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.base import utcnow
from justmaily.server.http.problems import ApiError, not_found
from justmaily.server.identity import models
from justmaily.server.identity.auth import API_KEY_PREFIX, hash_api_secret
from justmaily.server.identity.principal import Principal
from justmaily.server.identity.views import to_wire
from justmaily.shared.auth import ApiKey, ApiKeyCreate, ApiKeyCreated
from justmaily.shared.problems import FieldError


class ApiKeyService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, principal: Principal, request: ApiKeyCreate) -> ApiKeyCreated:
        beyond = sorted(set(request.scopes) - principal.permissions)
        if beyond:
            detail = f"a key cannot hold scopes its creator lacks: {', '.join(beyond)}"
            raise ApiError(403, "scope_not_held", detail, errors=[FieldError(field="scopes", message=detail)])
        if request.expires_at is not None and request.expires_at <= utcnow():
            raise ApiError(
                422,
                "invalid_expiry",
                "expires_at must be in the future",
                errors=[FieldError(field="expires_at", message="must be in the future")],
            )
        prefix, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        key = models.ApiKey(
            workspace_id=principal.workspace_id,
            name=request.name,
            prefix=prefix,
            secret_hash=hash_api_secret(secret),
            scopes=sorted(set(request.scopes)),
            created_by=principal.user_id,
            expires_at=request.expires_at,
        )
        self.session.add(key)
        await self.session.flush()
        return ApiKeyCreated(key=to_wire(key), secret=f"{API_KEY_PREFIX}{prefix}_{secret}")

    async def list(self, principal: Principal) -> list[ApiKey]:
        keys = await self.session.scalars(
            select(models.ApiKey)
            .where(models.ApiKey.workspace_id == principal.workspace_id)
            .order_by(models.ApiKey.created_at)
        )
        return [to_wire(k) for k in keys]

    async def revoke(self, principal: Principal, key_id: uuid.UUID) -> None:
        key = await self.session.get(models.ApiKey, key_id)
        if key is None or key.workspace_id != principal.workspace_id:
            raise not_found("API key")
        key.revoked_at = key.revoked_at or utcnow()
        await self.session.flush()
