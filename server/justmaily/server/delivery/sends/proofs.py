"""A sent message's proof: its send is delivery's, its batch and log entry are trust's."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.delivery.models import Send
from justmaily.server.http.problems import ApiError, not_found
from justmaily.server.identity.principal import Principal
from justmaily.server.trust.ca import CertificateAuthority
from justmaily.server.trust.evidence import ProofUnavailableError, message_proof
from justmaily.server.trust.log import LogSigner
from justmaily.server.trust.models import BatchLeaf
from justmaily.shared import trust as wire


class MessageProofs:
    def __init__(self, session: AsyncSession, log_signer: LogSigner, ca: CertificateAuthority) -> None:
        self.session, self.log_signer, self.ca = session, log_signer, ca

    async def proof(self, principal: Principal, message_id: str) -> wire.MessageProof:
        """`message_id` as in the message's Message-ID header, angle brackets optional."""
        wanted = message_id.strip().removeprefix("<").removesuffix(">")
        leaf = await self.session.get(BatchLeaf, wanted[:200])
        send = None if leaf is None else await self.session.get(Send, leaf.send_id)
        if leaf is None or send is None or send.workspace_id != principal.workspace_id:
            raise not_found("sent message (of a finished send)")
        try:
            return await message_proof(
                self.session, leaf, send.log_index, send.certificate_serial, self.log_signer, self.ca
            )
        except ProofUnavailableError as exc:
            raise ApiError(409, "proof_unavailable", str(exc)) from None
