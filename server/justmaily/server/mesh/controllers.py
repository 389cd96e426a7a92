"""HTTP handlers of the mesh: the registry of agents, for owners and admins (`mesh:read`); the
workspace's send gate, read by anyone who reads campaigns, set by who manages delivery."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, get, put
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.http.openapi import body, ok, problems
from justmaily.server.http.policy import requires
from justmaily.server.identity.principal import AuthedRequest
from justmaily.server.mesh import deps, examples
from justmaily.server.mesh.gate import read_gate, write_gate
from justmaily.server.mesh.registry import Registry
from justmaily.shared.mesh import Agent, AgentDetail, SendGate
from justmaily.shared.roles import Permission


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


class MeshController(Controller):
    path = "/api/mesh"
    tags = ["mesh"]
    dependencies = {"registry": Provide(deps.provide_registry, sync_to_thread=False)}

    @get(
        "/agents",
        opt=requires(Permission.MESH_READ),
        responses=ok(list[Agent], [examples.AGENT]) | problems(400),
        summary="Every agent of the mesh: its kind, health, breaker, load and recent latency",
    )
    async def list_agents(self, registry: NamedDependency[Registry]) -> list[Agent]:
        return await registry.list()

    @get(
        "/agents/{agent_id:uuid}",
        opt=requires(Permission.MESH_READ),
        responses=ok(AgentDetail, examples.DETAIL)
        | {304: ResponseSpec(data_container=None, description="The card has not changed (If-None-Match)")}
        | problems(400, 404),
        summary="One agent with its A2A agent card; the ETag is the card's (If-None-Match answers 304)",
    )
    async def get_agent(
        self,
        request: AuthedRequest,
        registry: NamedDependency[Registry],
        agent_id: FromPath[uuid.UUID],
    ) -> Response[AgentDetail | None]:
        detail, card_etag = await registry.get(agent_id)
        etag = f'"{card_etag}"'
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(None, status_code=304, headers={"ETag": etag})  # no body, only the tag
        return Response(detail, headers={"ETag": etag})

    @get(
        "/gate",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(SendGate, examples.GATE) | problems(400),
        summary="The workspace's send gate: warn (the default), or block on a spam score or broken links",
    )
    async def get_gate(self, request: AuthedRequest, db_session: NamedDependency[AsyncSession]) -> SendGate:
        return await read_gate(db_session, request.user.workspace_id)

    @put(
        "/gate",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=ok(SendGate, examples.GATE) | problems(400, 422),
        summary="Set the workspace's send gate: its mode and the spam score that blocks",
    )
    async def set_gate(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        data: Annotated[SendGate, body("Block", {"mode": "block", "spam_threshold": 5.0})],
    ) -> SendGate:
        return await write_gate(db_session, request.user.workspace_id, data)
