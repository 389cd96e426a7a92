"""The backup file: a manifest, then the snapshot in AES-256-GCM chunks.

    JMBACKUP1\\n | u32 manifest length | manifest (JSON) | chunks: u32 length | ciphertext+tag

Every chunk's nonce is the manifest's random prefix and the chunk's number; its associated data
is the manifest's SHA-256, its number and whether it is the last. So a changed manifest, a
changed, dropped, reordered or appended chunk, a file cut short (no last chunk) and the wrong
key are each refused (`ArchiveError`) before anything is restored. The manifest itself holds
no secret: format, backend, time, schema revision, the log's signed size and root.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"JMBACKUP1\n"
CHUNK = 4 * 1024 * 1024
_LENGTH = struct.Struct(">I")
_MAX_MANIFEST = 64 * 1024


class ArchiveError(ValueError):
    pass


def write(out: Path, manifest: dict[str, Any], payload: Path, key: bytes) -> None:
    """Seal `payload` into `out` (written beside it, then renamed: never half a backup)."""
    manifest = {**manifest, "nonce_prefix": os.urandom(8).hex(), "payload_sha256": _sha256(payload)}
    header = json.dumps(manifest, sort_keys=True).encode()
    bound = hashlib.sha256(header).digest()
    aead = AESGCM(key)
    prefix = bytes.fromhex(manifest["nonce_prefix"])
    partial = out.with_name(f".{out.name}.partial")
    with partial.open("wb") as sink, payload.open("rb") as source:
        sink.write(MAGIC + _LENGTH.pack(len(header)) + header)
        for number, (chunk, last) in enumerate(_chunks(source)):
            sealed = aead.encrypt(prefix + struct.pack(">I", number), chunk, _aad(bound, number, last))
            sink.write(_LENGTH.pack(len(sealed)) + sealed)
        sink.flush()
        os.fsync(sink.fileno())
    partial.chmod(0o600)
    partial.replace(out)


def read_manifest(path: Path) -> dict[str, Any]:
    with path.open("rb") as source:
        manifest, _ = _header(source)
    return manifest


def open_into(path: Path, key: bytes, sink_path: Path) -> dict[str, Any]:
    """Check and decrypt the whole archive into `sink_path`; the manifest, or ArchiveError."""
    aead = AESGCM(key)
    with path.open("rb") as source, sink_path.open("wb") as sink:
        manifest, bound = _header(source)
        prefix = bytes.fromhex(manifest["nonce_prefix"])
        digest = hashlib.sha256()
        number, finished = 0, False
        while length_bytes := source.read(_LENGTH.size):
            if finished:
                raise ArchiveError("data follows the last chunk: the backup was altered")
            if len(length_bytes) < _LENGTH.size:
                raise ArchiveError("the backup is truncated")
            length = _LENGTH.unpack(length_bytes)[0]
            sealed = source.read(length)
            if len(sealed) < length:
                raise ArchiveError(f"the backup is truncated (in chunk {number})")
            nonce = prefix + struct.pack(">I", number)
            try:
                chunk = aead.decrypt(nonce, sealed, _aad(bound, number, False))
            except InvalidTag:
                try:
                    chunk = aead.decrypt(nonce, sealed, _aad(bound, number, True))
                except InvalidTag:
                    raise ArchiveError(
                        f"chunk {number} does not authenticate: the backup was altered or this is not its key"
                    ) from None
                finished = True
            digest.update(chunk)
            sink.write(chunk)
            number += 1
        if not finished:
            raise ArchiveError("the backup is truncated: its last chunk is missing")
    if digest.hexdigest() != manifest["payload_sha256"]:
        raise ArchiveError("the snapshot's digest does not match its manifest")
    return manifest


def _header(source: BinaryIO) -> tuple[dict[str, Any], bytes]:
    if source.read(len(MAGIC)) != MAGIC:
        raise ArchiveError("not a JustMaily backup")
    length_bytes = source.read(_LENGTH.size)
    if len(length_bytes) < _LENGTH.size or (length := _LENGTH.unpack(length_bytes)[0]) > _MAX_MANIFEST:
        raise ArchiveError("the backup's manifest is damaged")
    header = source.read(length)
    try:
        manifest = json.loads(header)
    except ValueError:
        raise ArchiveError("the backup's manifest is damaged") from None
    if not isinstance(manifest, dict) or "nonce_prefix" not in manifest or "payload_sha256" not in manifest:
        raise ArchiveError("the backup's manifest is damaged")
    return manifest, hashlib.sha256(header).digest()


def _chunks(source: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    current = source.read(CHUNK)
    while True:
        following = source.read(CHUNK)
        yield current, not following
        if not following:
            return
        current = following


def _aad(bound: bytes, number: int, last: bool) -> bytes:
    return bound + struct.pack(">I?", number, last)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()
