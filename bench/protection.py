"""Data protection: sealed contacts per second, key unwrapping per provider, KEK rotation.

- Contacts: each sealed as three AES-256-GCM cells (address, name, custom fields as JSON) bound
  to its row, plus the address's blind index; then opened again. BENCH_CONTACTS (default 100,000).
- Unwrapping a data key: the local provider, and a SoftHSM2 token initialised in a temporary
  folder (skipped, and said so, where SoftHSM2 is not installed).
- KEK rotation: BENCH_WORKSPACES workspaces (default 1,000; two keys each) re-wrapped under a new
  KEK on SQLite, in batches of 100 as `justmaily keys rotate --kek` does.
- Paillier (2048-bit): 100,000 ciphertexts summed without the private key (1,000 distinct
  encryptions repeated: encrypting one takes ~10-20 ms), and the sum decrypted.
- The projected cost per delivered message: opening one recipient's three cells, against the
  ~1 ms per message of the sender's measured ceiling (docs/delivery.md, ~1,000 msg/s).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.report import save
from justmaily.server.db.engine import Database
from justmaily.server.identity.models import Workspace
from justmaily.server.migrations.migrate import upgrade_to_head
from justmaily.server.protection.aggregates import Aggregates
from justmaily.server.protection.audit import Actor
from justmaily.server.protection.fields import address_index, open_text, row_identity, seal_text
from justmaily.server.protection.hierarchy import KeyHierarchy, WorkspaceKeys
from justmaily.server.protection.providers import KeyProvider, LocalKeyProvider, Pkcs11KeyProvider
from justmaily.server.settings import Settings

CONTACTS = int(os.environ.get("BENCH_CONTACTS", "100000"))
WORKSPACES = int(os.environ.get("BENCH_WORKSPACES", "1000"))
SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
ACTOR = Actor.system("bench")
SENDER_SECONDS_PER_MESSAGE = 1 / 1000


def contacts_per_second(keys: WorkspaceKeys) -> dict[str, float]:
    ids = [uuid.uuid4() for _ in range(CONTACTS)]
    ws = keys.workspace_id
    started = time.perf_counter()
    sealed = []
    for n, contact in enumerate(ids):
        sealed.append(
            (
                seal_text(keys, row_identity(ws, "contacts.email", contact), f"person{n}@example.com"),
                seal_text(keys, row_identity(ws, "contacts.name", contact), f"Person {n}"),
                seal_text(
                    keys, row_identity(ws, "contacts.attributes", contact), '{"plan":"pro","seats":12}'
                ),
                address_index(keys, f"person{n}@example.com"),
            )
        )
    sealing = time.perf_counter() - started
    started = time.perf_counter()
    for contact, (email, name, attributes, _) in zip(ids, sealed, strict=True):
        open_text(keys, row_identity(ws, "contacts.email", contact), email)
        open_text(keys, row_identity(ws, "contacts.name", contact), name)
        open_text(keys, row_identity(ws, "contacts.attributes", contact), attributes)
    opening = time.perf_counter() - started
    per_message = opening / CONTACTS
    return {
        "contacts": CONTACTS,
        "sealed_per_second": round(CONTACTS / sealing),
        "opened_per_second": round(CONTACTS / opening),
        "open_microseconds_per_recipient": round(per_message * 1e6, 2),
        "projected_delivery_overhead_percent": round(100 * per_message / SENDER_SECONDS_PER_MESSAGE, 2),
    }


def paillier_sum() -> dict[str, Any]:
    holder = Aggregates.generate(k=10)
    started = time.perf_counter()
    distinct = [holder.encrypt(n) for n in range(1000)]
    encrypt_ms = (time.perf_counter() - started) / len(distinct) * 1000
    ciphertexts = distinct * 100
    started = time.perf_counter()
    total = holder.total(ciphertexts)
    summed = time.perf_counter() - started
    started = time.perf_counter()
    assert holder.decrypt(total) == sum(range(1000)) * 100
    return {
        "key_bits": 2048,
        "encrypt_ms": round(encrypt_ms, 2),
        "ciphertexts_summed": len(ciphertexts),
        "sum_seconds": round(summed, 3),
        "decrypt_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def unwrap_microseconds(provider: KeyProvider, rounds: int = 2000) -> float:
    wrapped = provider.wrap(os.urandom(32), b"bench")
    started = time.perf_counter()
    for _ in range(rounds):
        provider.unwrap(wrapped, b"bench")
    return round((time.perf_counter() - started) / rounds * 1e6, 1)


def softhsm_provider(workdir: Path) -> Pkcs11KeyProvider | None:
    util = shutil.which("softhsm2-util")
    if util is None or not Path(SOFTHSM).exists():
        return None
    (workdir / "tokens").mkdir(parents=True)
    config = workdir / "softhsm2.conf"
    config.write_text(
        f"directories.tokendir = {workdir / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(config)
    subprocess.run(  # noqa: S603 - our own arguments
        [util, "--init-token", "--free", "--label", "bench", "--pin", "1234", "--so-pin", "5678"],
        check=True,
        capture_output=True,
    )
    return Pkcs11KeyProvider(SOFTHSM, "bench", "1234")


async def kek_rotation(workdir: Path) -> dict[str, Any]:
    settings = Settings.of(database_url=f"sqlite:///{workdir / 'keys.db'}", data_dir=str(workdir))
    database = Database(settings)
    hierarchy = KeyHierarchy(LocalKeyProvider(settings.kek_path))
    try:
        await upgrade_to_head(database.engine)
        async with database.session() as session, session.begin():
            spaces = [Workspace(slug=f"w{n}", name=f"W{n}") for n in range(WORKSPACES)]
            session.add_all(spaces)
            await session.flush()
            for space in spaces:
                await hierarchy.keys_of(session, space.id, ACTOR, "bench")
        hierarchy.provider.new_version()
        started = time.perf_counter()
        rewrapped = 0
        while True:
            async with database.session() as session, session.begin():
                moved = await hierarchy.rewrap(session, ACTOR, "bench", limit=100)
            if not moved:
                break
            rewrapped += moved
        seconds = time.perf_counter() - started
        return {
            "data_keys": rewrapped,
            "seconds": round(seconds, 2),
            "keys_per_second": round(rewrapped / seconds),
        }
    finally:
        await database.dispose()


def main() -> int:
    keys = WorkspaceKeys(uuid.uuid4(), 1, {1: os.urandom(32)}, 1, os.urandom(32))
    results: dict[str, Any] = {"contacts": contacts_per_second(keys)}
    print(json.dumps(results["contacts"]))
    results["paillier"] = paillier_sum()
    print(json.dumps(results["paillier"]))
    with tempfile.TemporaryDirectory(prefix="justmaily-bench-protection-") as tmp:
        workdir = Path(tmp)
        unwrap: dict[str, Any] = {"local": unwrap_microseconds(LocalKeyProvider(workdir / "keks"))}
        token = softhsm_provider(workdir / "hsm")
        if token is None:
            unwrap["softhsm2"] = "not installed: run `just system-deps`"
        else:
            unwrap["softhsm2"] = unwrap_microseconds(token)
            token.close()
        results["unwrap_microseconds"] = unwrap
        print(json.dumps(unwrap))
        results["kek_rotation"] = asyncio.run(kek_rotation(workdir / "rotation"))
    print(json.dumps(results, indent=2))
    save("protection", results)
    return 0
