"""Moving-window rate limits per client IP and per signed-in principal (429 + Retry-After).

Backed by `limits` in process memory: each replica limits on its own. A shared backend (Redis)
slots in through `limits`' storage URI when replicas need one budget.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from justmaily.server.http.problems import ApiError


class RateLimiter:
    """One limiter for the app: named budgets checked with `consume` or `check`/`fail`."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def consume(self, limit: RateLimitItem, *key: str) -> None:
        """Count one hit; raise 429 when the budget is spent."""
        if not await self._limiter.hit(limit, *key):
            raise await self._refusal(limit, key)

    async def check(self, limit: RateLimitItem, *key: str) -> None:
        """Raise 429 when the budget is spent, without counting a hit."""
        if not await self._limiter.test(limit, *key):
            raise await self._refusal(limit, key)

    async def count(self, limit: RateLimitItem, *key: str) -> None:
        await self._limiter.hit(limit, *key)

    async def _refusal(self, limit: RateLimitItem, key: tuple[str, ...]) -> ApiError:
        stats = await self._limiter.get_window_stats(limit, *key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return ApiError(
            429,
            "rate_limited",
            f"too many requests: the limit is {limit}; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class RateLimitMiddleware:
    """Checks the per-IP budget before authentication and the per-principal one after it."""

    def __init__(self, limiter: RateLimiter, per_ip: str, per_principal: str) -> None:
        self.limiter = limiter
        self.per_ip = parse(per_ip)
        self.per_principal = parse(per_principal)

    def by_ip(self, app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP:
                await self.limiter.consume(self.per_ip, "ip", client_ip(scope))
            await app(scope, receive, send)

        return middleware

    def by_principal(self, app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            principal = scope.get("user")
            if scope["type"] == ScopeType.HTTP and principal is not None:
                await self.limiter.consume(self.per_principal, "principal", str(principal.id))
            await app(scope, receive, send)

        return middleware
