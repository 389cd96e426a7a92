"""Moving-window rate limits per client IP and per signed-in principal (429 + Retry-After).

Backed by `limits` in process memory: each replica limits on its own. A shared backend (Redis)
slots in through `limits`' storage URI when replicas need one budget.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from justmaily.server.http.problems import ApiError

Rates = list[RateLimitItem]


def rates(text: str) -> Rates:
    """`100/minute`, or several at once: `5/second;100/hour` (each must hold)."""
    return parse_many(text)


def shared_by(text: str, processes: int) -> str:
    """Each process's part of a budget that `processes` processes count on their own: the
    amounts divided, rounded up (`10/15minutes` over 2 processes: `5/15minutes` each), so that
    together they allow about the budget, never N times it."""
    parts = []
    for part in text.split(";"):
        amount, _, per = part.strip().partition("/")
        parts.append(f"{max(1, math.ceil(int(amount) / processes))}/{per}")
    return ";".join(parts)


class RateLimiter:
    """One limiter for the app. A budget is one or more rates, all of which must hold."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def consume(self, budget: Rates, *key: str) -> None:
        """Count one hit; raise 429 (counting nothing) when the budget is spent."""
        await self.check(budget, *key)
        await self.count(budget, *key)

    async def check(self, budget: Rates, *key: str) -> None:
        """Raise 429 when the budget is spent, without counting a hit."""
        spent = [limit for limit in budget if not await self._limiter.test(limit, *key)]
        if spent:
            raise await self._refusal(spent, key)

    async def count(self, budget: Rates, *key: str) -> None:
        for limit in budget:
            await self._limiter.hit(limit, *key)

    async def _refusal(self, spent: Rates, key: tuple[str, ...]) -> ApiError:
        resets = [(await self._limiter.get_window_stats(limit, *key)).reset_time for limit in spent]
        retry_after = max(1, math.ceil(max(resets) - time.time()))
        limits = ", ".join(str(limit) for limit in spent)
        return ApiError(
            429,
            "rate_limited",
            f"too many requests: the limit is {limits}; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class RateLimitMiddleware:
    """Checks the per-IP budget before authentication and the per-principal one after it."""

    def __init__(self, limiter: RateLimiter, per_ip: str, per_principal: str) -> None:
        self.limiter = limiter
        self.per_ip = rates(per_ip)
        self.per_principal = rates(per_principal)

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
