"""The trust monitor: against the real server's log (growth, restart) and against a log server on
loopback that the test controls and makes misbehave (forks, rollbacks, foreign keys, garbage)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import anyio
import httpx
import msgspec
import pytest
from anyio.abc import SocketStream
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from justmaily.desktop.engine.api import ApiClient
from justmaily.desktop.engine.trust_monitor import TrustMonitor, TrustState, TrustStatus
from justmaily.shared.roles import Role
from justmaily.shared.trust import (
    ConsistencyProof,
    EntryKind,
    InclusionProof,
    LogEntry,
    LogKey,
    TreeHead,
)
from justmaily.shared.verify.transparency import (
    Checkpoint,
    consistency_proof,
    inclusion_proof,
    open_checkpoint,
    root_hash,
    sign_checkpoint,
    verifier_key,
)
from tests.plugins.desktop import Desktops
from tests.plugins.live_server import Live
from tests.server.delivery.steps import approved_campaign
from tests.support.server_process import free_port

pytestmark = pytest.mark.backends("sqlite")

ORIGIN = "forged.example/transparency"
Answer = tuple[int, bytes]


@pytest.fixture
def live_env() -> dict[str, str]:
    return {"JUSTMAILY_LOG_PUBLISH_SECONDS": "0.1"}  # tree heads within a tenth of a second


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def leaves(count: int, tag: str = "real") -> list[bytes]:
    return [
        msgspec.json.encode({"kind": "approval", "n": n, "tag": tag}, order="sorted") for n in range(count)
    ]


class FakeLog:
    """A log whose key the test holds: it answers as the server does, until told otherwise."""

    def __init__(self, size: int) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.honest(size)

    def honest(self, size: int) -> None:
        self.leaves = leaves(size)
        self.named_key = self.key  # what GET /key names
        self.head: TreeHead | None = None  # served instead of the honest head
        self.consistency: ConsistencyProof | None = None  # served instead of the honest proof
        self.inclusion: InclusionProof | None = None
        self.raw: dict[str, Answer] = {}  # path -> status and body, served as they are

    def signed(self, tree: list[bytes], key: Ed25519PrivateKey | None = None) -> TreeHead:
        root = root_hash(tree)
        note = sign_checkpoint(Checkpoint(ORIGIN, len(tree), root), ORIGIN, key or self.key)
        return TreeHead(size=len(tree), root_hash=b64(root), checkpoint=note, published_at=_NOW)

    def answer(self, path: str, params: dict[str, str]) -> Answer:
        if path in self.raw:
            return self.raw[path]
        body: msgspec.Struct
        if path == "/api/transparency/key":
            body = LogKey(origin=ORIGIN, verifier_key=verifier_key(ORIGIN, self.named_key.public_key()))
        elif path == "/api/transparency/tree-head":
            body = self.head or self.signed(self.leaves)
        elif path == "/api/transparency/consistency":
            first, second = int(params["first"]), int(params["second"])
            hashes = consistency_proof(self.leaves[:second], first)
            body = self.consistency or ConsistencyProof(
                first=first, second=second, hashes=[b64(h) for h in hashes]
            )
        elif path.endswith("/inclusion"):
            index, size = int(path.split("/")[-2]), int(params["tree_size"])
            hashes = inclusion_proof(self.leaves[:size], index)
            body = self.inclusion or InclusionProof(
                index=index, tree_size=size, hashes=[b64(h) for h in hashes]
            )
        elif path.startswith("/api/transparency/entries/"):
            index = int(path.rsplit("/", maxsplit=1)[-1])
            leaf = self.leaves[index]
            body = LogEntry(
                index=index,
                kind=EntryKind.APPROVAL,
                leaf=b64(leaf),
                data=msgspec.json.decode(leaf),
                created_at=_NOW,
            )
        else:
            return 404, b'{"status": 404, "title": "Not Found", "code": "not_found"}'
        return 200, msgspec.json.encode(body)


_NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@asynccontextmanager
async def log_server(log: FakeLog) -> AsyncIterator[str]:
    """A minimal HTTP/1.1 server on loopback: one request per connection, answered by `log`."""

    async def serve(stream: SocketStream) -> None:
        async with stream:
            request = b""
            try:
                while b"\r\n\r\n" not in request:
                    request += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return
            target = request.split(b" ", 2)[1].decode()
            url = urlsplit(target)
            status, body = log.answer(url.path, dict(parse_qsl(url.query)))
            head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            await stream.send(head.encode() + b"Connection: close\r\n\r\n" + body)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 - anyio, not Django
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        yield f"http://127.0.0.1:{port}"
        group.cancel_scope.cancel()


@asynccontextmanager
async def monitoring(url: str, path: Path) -> AsyncIterator[TrustMonitor]:
    api = ApiClient(url, timeout=5)
    api.access_token = "test"  # the fake log asks nobody to sign in
    monitor = await TrustMonitor.open(api, path)
    try:
        yield monitor
    finally:
        await monitor.close()
        await api.aclose()


# Misbehaving logs -------------------------------------------------------------------------------


def same_size_other_root(log: FakeLog) -> None:
    log.head = log.signed(leaves(3, tag="forged"))


def rewritten_history(log: FakeLog) -> None:
    log.leaves = leaves(5, tag="rewritten")  # signed honestly, but not an extension of what was seen


def proof_that_does_not_verify(log: FakeLog) -> None:
    log.leaves = leaves(5)
    log.consistency = ConsistencyProof(first=3, second=5, hashes=[b64(b"\x01" * 32)] * 3)


def proof_for_other_sizes(log: FakeLog) -> None:
    log.leaves = leaves(5)
    log.consistency = ConsistencyProof(
        first=2, second=5, hashes=[b64(h) for h in consistency_proof(log.leaves, 2)]
    )


def back_in_time(log: FakeLog) -> None:
    log.leaves = leaves(2)


def signed_by_another_key(log: FakeLog) -> None:
    log.head = log.signed(leaves(4), key=Ed25519PrivateKey.generate())


def key_changed(log: FakeLog) -> None:
    log.named_key = Ed25519PrivateKey.generate()
    log.head = log.signed(leaves(4), key=log.named_key)


def tampered_checkpoint(log: FakeLog) -> None:
    honest = log.signed(leaves(4))
    log.head = msgspec.structs.replace(honest, checkpoint=honest.checkpoint.replace("\n4\n", "\n5\n", 1))


def fields_differ_from_checkpoint(log: FakeLog) -> None:
    log.head = msgspec.structs.replace(log.signed(leaves(4)), size=9)


def garbage_head(log: FakeLog) -> None:
    log.raw["/api/transparency/tree-head"] = (200, b'{"size": "many", "root_hash": [')


def garbage_proof(log: FakeLog) -> None:
    log.leaves = leaves(5)
    log.raw["/api/transparency/consistency"] = (200, b"<html>proof</html>")


def refused_proof(log: FakeLog) -> None:
    log.leaves = leaves(5)
    log.raw["/api/transparency/consistency"] = (
        422,
        b'{"status": 422, "title": "Unprocessable", "code": "no_such_tree", "detail": "no tree of size 3"}',
    )


ATTACKS: dict[str, tuple[Callable[[FakeLog], None], str]] = {
    "two roots at one size": (same_size_other_root, "Two different roots for the same 3 entries"),
    "rewritten history": (rewritten_history, "does not extend the tree of 3"),
    "proof that does not verify": (proof_that_does_not_verify, "does not extend the tree of 3"),
    "proof for other sizes": (proof_for_other_sizes, "the server proved 5 from 2"),
    "smaller size": (
        back_in_time,
        "went back in time: it served a tree of 2 entries after this app verified one of 3",
    ),
    "another key": (signed_by_another_key, "does not verify with the log's pinned key: unknown key"),
    "a changed key": (key_changed, "The log's key changed"),
    "tampered checkpoint": (tampered_checkpoint, "bad signature"),
    "fields differ from the checkpoint": (fields_differ_from_checkpoint, "says size 9"),
    "garbage JSON": (garbage_head, "sent a tree head this app cannot read"),
    "garbage proof": (garbage_proof, "sent a consistency proof this app cannot read"),
    "refused proof": (refused_proof, "will not give a consistency proof"),
}


@pytest.mark.parametrize("attack", ATTACKS, ids=list(ATTACKS))
async def test_a_misbehaving_log_is_reported_as_a_fork_and_never_accepted(
    tmp_path: Path, attack: str
) -> None:
    misbehave, says = ATTACKS[attack]
    log = FakeLog(3)
    async with log_server(log) as url:
        async with monitoring(url, tmp_path / "trust.sqlite3") as monitor:
            assert (await monitor.check()).status is TrustStatus.OK
            trusted = monitor.heads
            misbehave(log)
            state = await monitor.check()
            assert state.status is TrustStatus.FORK
            assert says in state.reason
            assert state.fork is not None
            assert state.fork.kept == trusted[-1]  # the evidence: what was verified, and what came instead
            assert state.fork.served is not None or state.fork.served_text
            assert monitor.heads == trusted  # nothing inconsistent is kept
            # The alarm stays, even when the server turns honest again, and after a restart.
            log.honest(3)
            assert (await monitor.check()).reason == state.reason
        async with monitoring(url, tmp_path / "trust.sqlite3") as reopened:
            assert reopened.state.status is TrustStatus.FORK
            assert reopened.state.reason == state.reason
            assert reopened.heads == trusted


async def test_growth_with_consistency_proofs_is_accepted_and_the_chain_survives_a_restart(
    tmp_path: Path,
) -> None:
    log = FakeLog(3)
    async with log_server(log) as url:
        async with monitoring(url, tmp_path / "trust.sqlite3") as monitor:
            assert monitor.state.status is TrustStatus.UNCHECKED
            assert (await monitor.check()).status is TrustStatus.OK
            pinned = monitor.key
            assert pinned is not None
            assert pinned.origin == ORIGIN
            for size in (3, 4, 7, 8):  # the same head again, then growth across subtree borders
                log.leaves = leaves(size)
                state = await monitor.check()
                assert state.status is TrustStatus.OK, state.reason
            assert [h.size for h in monitor.heads] == [3, 4, 7, 8]
        async with monitoring(url, tmp_path / "trust.sqlite3") as reopened:
            assert reopened.key == pinned
            assert [h.size for h in reopened.heads] == [3, 4, 7, 8]
            log.leaves = leaves(2)  # what was verified before the restart still binds
            assert (await reopened.check()).status is TrustStatus.FORK


async def test_an_inclusion_proof_for_the_wrong_tree_size_is_rejected(tmp_path: Path) -> None:
    log = FakeLog(5)
    async with log_server(log) as url, monitoring(url, tmp_path / "trust.sqlite3") as monitor:
        await monitor.check()
        honest = await monitor.verify_entry(4)
        assert honest.verdict, honest.verdict.reason
        # The proof of another tree, said to be of another size...
        other = inclusion_proof(log.leaves[:4], 0)
        log.inclusion = InclusionProof(index=0, tree_size=4, hashes=[b64(h) for h in other])
        refused = await monitor.verify_entry(0)
        assert not refused.verdict
        assert (
            "a proof for the wrong tree: asked for entry 0 in the tree of 5 entries" in refused.verdict.reason
        )
        # ...or labelled with the size asked for: the hashes do not lead to the signed root.
        log.inclusion = InclusionProof(index=0, tree_size=5, hashes=[b64(h) for h in other])
        assert not (await monitor.verify_entry(0)).verdict
        # An entry whose data is not what its leaf says, and one outside the verified tree.
        log.inclusion = None
        log.leaves[1] = leaves(2, tag="edited")[1]
        assert "root mismatch" in (await monitor.verify_entry(1)).verdict.reason
        assert "not in the verified tree of 5" in (await monitor.verify_entry(5)).verdict.reason


async def test_offline_or_busy_is_unchecked_not_a_fork(tmp_path: Path) -> None:
    log = FakeLog(3)
    async with log_server(log) as url, monitoring(url, tmp_path / "trust.sqlite3") as monitor:
        log.raw["/api/transparency/tree-head"] = (503, b'{"status": 503, "title": "Busy", "code": "busy"}')
        state = await monitor.check()
        assert state.status is TrustStatus.UNCHECKED
        assert "Could not fetch the log's tree head" in state.reason
        assert monitor.key is None  # nothing pinned before a head opened with it
        log.raw.clear()
        assert (await monitor.check()).status is TrustStatus.OK
    async with monitoring(f"http://127.0.0.1:{free_port()}", tmp_path / "trust.sqlite3") as offline:
        state = await offline.check()
        assert state.status is TrustStatus.UNCHECKED
        assert "Cannot reach" in state.reason
        assert [h.size for h in offline.heads] == [3]


async def test_garbage_on_first_use_pins_nothing(tmp_path: Path) -> None:
    log = FakeLog(3)
    log.raw["/api/transparency/key"] = (200, b'{"origin": "x", "verifier_key": "not a key"}')
    async with log_server(log) as url, monitoring(url, tmp_path / "trust.sqlite3") as monitor:
        state = await monitor.check()
        assert state.status is TrustStatus.FORK
        assert "malformed verifier key" in state.reason
        assert monitor.key is None
        assert monitor.heads == []


# The real server --------------------------------------------------------------------------------


async def verified(monitor: TrustMonitor, at_least: int) -> TrustState:
    """Check (bounded) until the monitor has verified a head of `at_least` entries."""
    with anyio.fail_after(10):
        while True:
            state = await monitor.check()
            assert state.status is not TrustStatus.FORK, state.reason
            latest = monitor.latest
            if state.status is TrustStatus.OK and latest is not None and latest.size >= at_least:
                return state
            await anyio.sleep(0.05)


async def test_the_real_log_grows_consistently_and_the_chain_survives_a_restart(
    live: Live, desktops: Desktops
) -> None:
    account = await desktops.sign_in(Role.VIEWER)
    monitor = account.trust
    await verified(monitor, at_least=1)  # the log's key, recorded when it first signs
    first = monitor.latest
    assert first is not None
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        await approved_campaign(client, live.team, subject="Spring", body="Hello")
        await approved_campaign(client, live.team, subject="Summer", body="Hi")
    # Each approval is an entry (other domains may add theirs alongside): wait, bounded, until
    # the verified tree holds both, each check bringing a consistency proof.
    approvals: list[int] = []
    wanted = first.size + 2
    with anyio.fail_after(10):
        while len(approvals) < 2:
            await verified(monitor, at_least=wanted)
            wanted = monitor.heads[-1].size + 1
            entries = [await account.api.log_entry(i) for i in range(wanted - 1)]
            approvals = [e.index for e in entries if e.kind is EntryKind.APPROVAL]
    sizes = [h.size for h in monitor.heads]
    assert sizes == sorted(set(sizes))
    assert len(sizes) >= 2
    for index in approvals:
        check = await monitor.verify_entry(index)
        assert check.verdict, check.verdict.reason
    # The server's own list of heads, newest first, opens with the pinned key too.
    pinned = monitor.key
    assert pinned is not None
    listed = await account.api.tree_heads(limit=2)
    assert [h.size for h in listed.items] == sorted((h.size for h in listed.items), reverse=True)
    assert all(open_checkpoint(h.checkpoint, pinned.verifier_key)[1] for h in listed.items)
    await account.close()

    resumed = await desktops.resume(Role.VIEWER)
    assert resumed.trust.key == pinned
    assert [h.size for h in resumed.trust.heads] == sizes
    assert (await resumed.trust.check()).status is TrustStatus.OK
