"""Watches the server's transparency log for forks: the desktop's half of docs/trust.md.

A `TrustMonitor` per account pins the log's verifier key the first time it sees the log (trust on
first use), then on every check fetches the latest signed tree head and accepts it only if

* it opens with the pinned key (a changed key is an alarm: the server offers no statement signed
  by the old key that vouches for a new one, so this app cannot tell a rotation from a takeover),
* its size and root are what its signed checkpoint says, and
* it extends the last head kept: the same size has the same root, a larger one comes with a
  consistency proof that verifies, a smaller one is the log going back in time.

Accepted heads are kept on disk (`TrustStore`), so a restart continues the chain instead of
trusting afresh. An inconsistent head is never kept: it raises a FORK, which stays (on disk too)
with its evidence until someone deliberately clears it, because a server showing two histories
may well show the good one again on the next check. Being offline or a busy server only makes the
state UNCHECKED; an answer that is not what the API promises counts as misbehaviour.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

import anyio
import msgspec

from justmaily.desktop.engine.errors import UNREADABLE, DesktopError, ErrorKind
from justmaily.desktop.engine.trust_store import Fork, TrustStore
from justmaily.shared.trust import (
    CampaignCertificate,
    ConsistencyProof,
    InclusionProof,
    LogEntry,
    LogKey,
    TreeHead,
)
from justmaily.shared.verify.transparency import (
    Checkpoint,
    Verdict,
    leaf_hash,
    open_checkpoint,
    verify_consistency,
    verify_inclusion,
)

__all__ = ["CHECK_EVERY", "Fork", "InclusionCheck", "TrustMonitor", "TrustState", "TrustStatus"]

T = TypeVar("T")

CHECK_EVERY = 60.0  # seconds between checks while the app runs
KEPT_IN_MEMORY = 500  # the latest verified heads held for the chain view; all stay on disk
_EXCERPT = 300  # characters of an unreadable answer kept as evidence


class TrustStatus(enum.StrEnum):
    UNCHECKED = "unchecked"  # not checked yet, or the server could not be asked (offline, busy)
    OK = "ok"  # the latest head verified and extends every head kept before it
    FORK = "fork"  # the log showed something inconsistent with what this app verified


class TrustState(msgspec.Struct, frozen=True, kw_only=True):
    status: TrustStatus
    reason: str
    checked_at: datetime | None = None
    fork: Fork | None = None


class InclusionCheck(msgspec.Struct, frozen=True, kw_only=True):
    """Whether entry `index` is in the verified tree `head`, with what the server served for it."""

    index: int
    verdict: Verdict
    head: TreeHead | None = None
    entry: LogEntry | None = None
    proof: InclusionProof | None = None


class TransparencyApi(Protocol):
    """The calls the monitor needs (`ApiClient` has them)."""

    async def log_key(self) -> LogKey: ...
    async def tree_head(self) -> TreeHead: ...
    async def log_entry(self, index: int) -> LogEntry: ...
    async def inclusion_proof(self, index: int, tree_size: int | None = None) -> InclusionProof: ...
    async def consistency_proof(self, first: int, second: int) -> ConsistencyProof: ...
    async def certificates(self, *, limit: int = 100) -> list[CampaignCertificate]: ...


class _AlarmError(Exception):
    def __init__(self, reason: str, *, served: TreeHead | None = None, served_text: str = "") -> None:
        super().__init__(reason)
        self.served = served
        self.served_text = served_text


class _UncheckedError(Exception):
    pass


class TrustMonitor:
    def __init__(
        self,
        api: TransparencyApi,
        store: TrustStore,
        *,
        key: LogKey | None = None,
        heads: list[TreeHead] | None = None,
        fork: Fork | None = None,
    ) -> None:
        self.api = api
        self._store = store
        self._key = key
        self._heads = heads or []
        self._fork = fork
        self._state = self._state_now(
            None, "Not checked yet" if not self._heads else "Not checked since the app started"
        )
        self._listeners: list[Callable[[], None]] = []
        self._checking = anyio.Lock()
        self._running: anyio.CancelScope | None = None
        self._closed = False

    @classmethod
    async def open(cls, api: TransparencyApi, path: Path) -> TrustMonitor:
        store = await TrustStore.open(path)
        return cls(
            api,
            store,
            key=await store.pinned_key(),
            heads=await store.heads(latest=KEPT_IN_MEMORY),
            fork=await store.alarm(),
        )

    async def close(self) -> None:
        """Stop `run`, wait for a check in flight, close the store; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        if self._running is not None:
            self._running.cancel()
        async with self._checking:
            await self._store.close()

    # What the UI reads -----------------------------------------------------------------------

    @property
    def state(self) -> TrustState:
        return self._state

    @property
    def key(self) -> LogKey | None:
        return self._key

    @property
    def heads(self) -> list[TreeHead]:
        """The verified heads held in memory (the latest ones), smallest first."""
        return list(self._heads)

    @property
    def latest(self) -> TreeHead | None:
        return self._heads[-1] if self._heads else None

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """`listener()` runs after every check. Returns the function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # Checking --------------------------------------------------------------------------------

    async def run(self, every: float = CHECK_EVERY) -> None:
        """Check now and every `every` seconds until cancelled or closed."""
        with anyio.CancelScope() as self._running:
            while not self._closed:
                await self.check()
                await anyio.sleep(every)

    async def check(self) -> TrustState:
        """Fetch the latest tree head and keep it if it verifies; never raises on what the
        server sends (the state says what went wrong)."""
        async with self._checking:
            if self._closed:  # also when `close` took the lock first: the store is gone
                return self._state
            try:
                await self._check()
            except _AlarmError as alarm:
                await self._raise(alarm)
                self._state = self._state_now(_now(), "")
            except _UncheckedError as unchecked:
                self._state = self._state_now(_now(), str(unchecked), unchecked=True)
            else:
                latest = self.latest
                size = latest.size if latest is not None else 0
                self._state = self._state_now(
                    _now(), f"The log's {size} entries extend every tree head this app verified before"
                )
        for listener in list(self._listeners):
            listener()
        return self._state

    async def trust_again(self) -> None:
        """A deliberate decision after investigating an alarm (never a button click away): pin
        the key the server names now and clear the alarm. The heads verified so far stay, so the
        next head must still extend them."""
        async with self._checking:
            key = await self.api.log_key()
            await self._store.pin(key)
            await self._store.clear_alarm()
            self._key, self._fork = key, None
        await self.check()

    def _state_now(self, checked_at: datetime | None, reason: str, *, unchecked: bool = False) -> TrustState:
        if self._fork is not None:  # an alarm outlives every later check
            return TrustState(
                status=TrustStatus.FORK, reason=self._fork.reason, checked_at=checked_at, fork=self._fork
            )
        status = TrustStatus.UNCHECKED if unchecked or checked_at is None else TrustStatus.OK
        return TrustState(status=status, reason=reason, checked_at=checked_at)

    async def _raise(self, alarm: _AlarmError) -> None:
        if self._fork is not None:
            return  # the first alarm's evidence is the one to investigate
        fork = Fork(
            reason=str(alarm),
            detected_at=_now(),
            kept=self.latest,
            served=alarm.served,
            served_text=alarm.served_text[:_EXCERPT],
        )
        await self._store.raise_alarm(fork)
        self._fork = fork

    async def _check(self) -> None:
        head = await self._ask("tree head", self.api.tree_head)
        first_use = self._key is None
        key = self._key if self._key is not None else await self._ask("log key", self.api.log_key)
        checkpoint = await self._open(head, key)
        kept = self.latest
        if kept is not None:
            await self._extends(kept, head, checkpoint)
        if first_use:  # pinned only once a head opened with it: a broken key is never pinned
            await self._store.pin(key)
            self._key = key
        if kept is None or checkpoint.size > kept.size:
            await self._store.keep(head)
            self._heads = [*self._heads, head][-KEPT_IN_MEMORY:]

    async def _open(self, head: TreeHead, key: LogKey) -> Checkpoint:
        checkpoint, verdict = open_checkpoint(head.checkpoint, key.verifier_key)
        if checkpoint is None:
            reason = f"The tree head does not verify with the log's pinned key: {verdict.reason}"
            if verdict.reason.startswith("unknown key"):
                named = await self._named_key()
                if named is not None and named != key:
                    reason = (
                        f"The log's key changed: pinned {key.verifier_key}, the server now names "
                        f"{named.verifier_key}. Nothing signed by the pinned key vouches for the new "
                        "one, so this app treats the change as a fork"
                    )
            raise _AlarmError(reason, served=head)
        if checkpoint.origin != key.origin:
            raise _AlarmError(
                f"The tree head is for the log {checkpoint.origin!r}, the pinned log is {key.origin!r}",
                served=head,
            )
        if head.size != checkpoint.size or _decode(head.root_hash) != checkpoint.root:
            raise _AlarmError(
                f"The tree head says size {head.size} and root {head.root_hash}, its signed "
                f"checkpoint size {checkpoint.size} and root {_encode(checkpoint.root)}",
                served=head,
            )
        return checkpoint

    async def _extends(self, kept: TreeHead, head: TreeHead, checkpoint: Checkpoint) -> None:
        old_root = _root(kept)
        size = checkpoint.size
        if size == kept.size:
            if checkpoint.root != old_root:
                raise _AlarmError(
                    f"Two different roots for the same {size} entries: {kept.root_hash} (verified "
                    f"earlier) and {head.root_hash}. The log shows different histories",
                    served=head,
                )
            return
        if size < kept.size:
            raise _AlarmError(
                f"The log went back in time: it served a tree of {size} entries after this app "
                f"verified one of {kept.size}",
                served=head,
            )
        if kept.size == 0:
            return  # the empty tree is a prefix of every tree (RFC 9162 has no proof from it)

        async def prove() -> ConsistencyProof:
            return await self.api.consistency_proof(kept.size, size)

        proof = await self._ask("consistency proof", prove, served=head, refusal_is_alarm=True)
        if (proof.first, proof.second) != (kept.size, size):
            raise _AlarmError(
                f"Asked to prove that {size} entries extend {kept.size}, the server proved "
                f"{proof.second} from {proof.first}",
                served=head,
            )
        hashes = _hashes(proof.hashes)
        if hashes is None:
            raise _AlarmError("The consistency proof's hashes are not base64", served=head)
        verdict = verify_consistency(kept.size, size, old_root, checkpoint.root, hashes)
        if not verdict:
            raise _AlarmError(
                f"The tree of {size} entries does not extend the tree of {kept.size} verified "
                f"earlier: {verdict.reason}",
                served=head,
            )

    async def _ask(
        self,
        what: str,
        call: Callable[[], Awaitable[T]],
        *,
        served: TreeHead | None = None,
        refusal_is_alarm: bool = False,
    ) -> T:
        try:
            return await call()
        except DesktopError as exc:
            if exc.code == UNREADABLE:
                raise _AlarmError(
                    f"The server sent a {what} this app cannot read", served=served, served_text=str(exc)
                ) from exc
            if refusal_is_alarm and exc.kind in (ErrorKind.INVALID, ErrorKind.NOT_FOUND):
                raise _AlarmError(f"The log will not give a {what}: {exc}", served=served) from exc
            if exc.kind is ErrorKind.NOT_FOUND:
                raise _UncheckedError(f"The log has no signed {what} yet") from exc
            raise _UncheckedError(f"Could not fetch the log's {what}: {exc}") from exc

    async def _named_key(self) -> LogKey | None:
        """The key the server names now, for a clearer alarm; None when it cannot be had."""
        try:
            return await self.api.log_key()
        except DesktopError:
            return None

    # Entries ---------------------------------------------------------------------------------

    async def certificates(self) -> list[CampaignCertificate]:
        """The workspace's campaign certificates with their statuses, as the server reports them."""
        return await self.api.certificates()

    async def verify_entry(self, index: int, tree_size: int | None = None) -> InclusionCheck:
        """Whether entry `index` is in a verified tree head (default: the latest). The leaf's
        hash is computed here from the served bytes; a server-computed hash is never trusted.
        Raises `DesktopError` only when the server cannot be asked."""
        head = (
            self.latest if tree_size is None else next((h for h in self._heads if h.size == tree_size), None)
        )
        if head is None:
            why = (
                "no verified tree head yet: check the log first"
                if tree_size is None
                else (f"no verified tree head of size {tree_size}")
            )
            return InclusionCheck(index=index, verdict=Verdict(ok=False, reason=why))
        if not 0 <= index < head.size:
            why = f"entry {index} is not in the verified tree of {head.size} entries"
            return InclusionCheck(index=index, head=head, verdict=Verdict(ok=False, reason=why))
        try:
            entry = await self.api.log_entry(index)
            proof = await self.api.inclusion_proof(index, head.size)
        except DesktopError as exc:
            if exc.code != UNREADABLE:
                raise
            why = f"the server sent an answer this app cannot read ({exc})"
            return InclusionCheck(index=index, head=head, verdict=Verdict(ok=False, reason=why))
        verdict = inclusion_verdict(index, head, entry, proof)
        return InclusionCheck(index=index, head=head, entry=entry, proof=proof, verdict=verdict)


def inclusion_verdict(index: int, head: TreeHead, entry: LogEntry, proof: InclusionProof) -> Verdict:
    """Whether `entry` and `proof` show entry `index` in the tree of `head` (already verified)."""
    if entry.index != index:
        return Verdict(ok=False, reason=f"asked for entry {index}, the server sent entry {entry.index}")
    if (proof.index, proof.tree_size) != (index, head.size):
        # A proof ties a hash to a root, not to a size: one for another size must never be
        # checked against this head's root, where it could verify by the trees' shape.
        return Verdict(
            ok=False,
            reason=f"a proof for the wrong tree: asked for entry {index} in the tree of {head.size} "
            f"entries, got entry {proof.index} in the tree of {proof.tree_size}",
        )
    leaf, hashes = _decode(entry.leaf), _hashes(proof.hashes)
    if leaf is None or hashes is None:
        return Verdict(ok=False, reason="the entry's leaf or its proof is not base64")
    try:
        said = msgspec.json.decode(leaf)
    except msgspec.DecodeError:
        said = None
    if said != entry.data:
        return Verdict(ok=False, reason="the entry's data is not what its leaf says")
    return verify_inclusion(leaf_hash(leaf), index, head.size, hashes, _root(head))


def _now() -> datetime:
    return datetime.now(UTC)


def _encode(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _hashes(texts: list[str]) -> list[bytes] | None:
    decoded = [_decode(text) for text in texts]
    return None if None in decoded else [h for h in decoded if h is not None]


def _root(head: TreeHead) -> bytes:
    """The root of a head that was verified when it was kept (so its base64 is known good)."""
    return base64.b64decode(head.root_hash)
